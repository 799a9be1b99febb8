#!/usr/bin/env bash
# The main job on a fresh machine: install replikv into ./.venv, measure the chapter's
# claims in the simulator, then run a real 3-node cluster that any Redis client talks to,
# crash its primary with SIGKILL, fail over, and read every acknowledged write back.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e . redis
export PATH="$PWD/.venv/bin:$PATH"

echo "== 1. The simulator: the same crash of the primary, three schemes, 20 seeds each =="
replikv sim --protocol pb-async --scenario primary-crash --seeds 20
replikv sim --protocol pb-sync  --scenario primary-crash --seeds 20
replikv sim --protocol raft     --scenario leader-crash  --seeds 20

echo "== 2. A real pb-sync cluster: 3 processes, Redis protocol, kill -9, promote, read back =="
DATA=$(mktemp -d)
BASE=${REPLIKV_DEMO_PORT:-7700}
trap 'replikv cluster down --data-dir "$DATA" --wipe >/dev/null 2>&1 || true' EXIT
replikv cluster up --protocol pb-sync --nodes 3 --data-dir "$DATA" --base-port "$BASE"
python - "$BASE" <<'PY'
import sys, redis
base = int(sys.argv[1])
primary = redis.Redis(port=base + 1, decode_responses=True)
for i in range(100):
    primary.set(f"key{i}", f"value{i}")
print("wrote 100 keys through node 1 (the primary); node 3 serves them too:",
      redis.Redis(port=base + 3, decode_responses=True).get("key99"))
PY
replikv cluster kill 1 --data-dir "$DATA"
replikv cluster promote 2 --data-dir "$DATA"
replikv cluster restart 1 --data-dir "$DATA"
replikv cluster wait --data-dir "$DATA"   # until node 1 has caught up
python - "$BASE" <<'PY'
import sys, redis
base = int(sys.argv[1])
node2 = redis.Redis(port=base + 2, decode_responses=True)
missing = [i for i in range(100) if node2.get(f"key{i}") != f"value{i}"]
print(f"after kill -9 of the primary and failover to node 2: {100 - len(missing)}/100 acknowledged writes readable")
node2.set("after-failover", "yes")
print("a write through the new primary:", redis.Redis(port=base + 3, decode_responses=True).get("after-failover"))
sys.exit(1 if missing else 0)
PY
replikv cluster status --data-dir "$DATA"
