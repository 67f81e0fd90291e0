"""The test app: an Order model, custom signals and module-level receivers."""
