print("ensure")
