"""The shipped files checked with their real tools: promtool on the alert rules, pip on the wheels, mkdocs on
the documentation. Needs those tools (`make tools` fetches promtool), no cluster."""
