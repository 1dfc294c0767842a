// Network target placeholder
