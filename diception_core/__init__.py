"""diception_core package."""
