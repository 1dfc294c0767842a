# Helpers shared by testnet/up, testnet/down and testnet/status (sourced, not run). Node NAME of a network in DIR
# lives in DIR/NAME, writes DIR/NAME/node.log and DIR/NAME/node.pid; DIR/testnet.json is `ensure testnet --json`.
# shellcheck shell=bash

# Prints "name api-address p2p-address" per node of the network in $1, validators first.
node_table() {
    python3 - "$1/testnet.json" <<'PY'
import json, sys
try:
    with open(sys.argv[1]) as f:
        summary = json.load(f)
    for node in summary["nodes"]:
        print(node["name"], node["apiAddress"], node["p2pAddress"])
except (OSError, ValueError, KeyError, TypeError) as error:
    sys.exit(f"cannot read the network summary {sys.argv[1]}: {error}")
PY
}

# Succeeds when $1 is the pid of an ensure-node serving home $2 (not a reused pid of something else).
is_node_process() {
    local args
    args="$(ps -o args= -p "$1" 2>/dev/null)" || return 1
    case "$args" in
    *ensure-node*"--home $2") ;;
    *) return 1 ;;
    esac
    # A zombie has exited already.
    [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" != "Z" ]
}

# Prints "name pid" for every node of the network in $1 whose pid file names a live ensure-node.
running_nodes() {
    local pidfile name pid
    for pidfile in "$1"/*/node.pid; do
        [ -f "$pidfile" ] || continue
        name="$(basename "$(dirname "$pidfile")")"
        pid="$(cat "$pidfile" 2>/dev/null || true)"
        [[ "$pid" =~ ^[0-9]+$ ]] || continue
        if is_node_process "$pid" "$1/$name"; then echo "$name $pid"; fi
    done
}

# Succeeds when something accepts TCP connections on host:port $1.
port_in_use() {
    local host="${1%:*}" port="${1##*:}"
    if command -v timeout >/dev/null 2>&1; then
        timeout 1 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null
    else
        bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null
    fi
}

# Prints GET http://$1/v1/status, or nothing when the node does not answer within $2 seconds (default 1).
node_status_json() {
    curl -sf --max-time "${2:-1}" "http://$1/v1/status" 2>/dev/null || true
}

# Prints the committed height reported by the node whose API is at $1, or nothing.
node_height() {
    node_status_json "$1" | python3 -c 'import json, sys
try:
    print(int(json.load(sys.stdin)["height"]))
except (ValueError, KeyError, TypeError):
    pass' 2>/dev/null || true
}
