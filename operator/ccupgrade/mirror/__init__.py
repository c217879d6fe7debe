"""mirror layer."""
