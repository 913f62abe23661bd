"""Small real programs that tests run in PTYs as children."""
