print("ensure-crash-writer: not built yet")
