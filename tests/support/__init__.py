"""Helpers the tests share: fakes, fixtures data, paths and the real tools. No tests here."""
