print("ensure-bench")
