#!/usr/bin/env bash
# The main job as a demo: generates a sample traffic clip, starts a private MQTT
# broker on loopback, runs anprd on the clip, and prints each read as it
# arrives at the broker. Everything lives in a temporary folder; nothing is
# installed system-wide except the Debian packages from setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"

seconds=${DEMO_SECONDS:-24}
cargo build --locked --bins
bin=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)/debug

work=$(mktemp -d /tmp/anprd-demo.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "demo: rendering a ${seconds}s traffic clip"
"$bin/anprd-synth" clip --out "$work/sample.mp4" --seconds "$seconds" --seed 7 --truth "$work/truth.json"

# A free port on loopback for the private broker.
port=""
for _ in $(seq 100); do
  p=$(( 20000 + RANDOM % 40000 ))
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
done
[ -n "$port" ] || { echo "demo: no free loopback port" >&2; exit 1; }

cat > "$work/mosquitto.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
persistence false
CONF
mosquitto -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

cat > "$work/anprd.toml" <<CONF
[gateway]
id = "gw-demo01"

[[camera]]
id = "cam-01"
source = "file://$work/sample.mp4"
label = "demo clip"

[mqtt]
url = "mqtt://127.0.0.1:$port"
allow_insecure = true
topic_prefix = "anpr"

[spool]
path = "$work/spool"
max_bytes = 104857600
CONF

echo "demo: reads arriving at the broker (topic, time, camera, plate, confidence, image sizes):"
mosquitto_sub -h 127.0.0.1 -p "$port" -t 'anpr/+/+/reads' -F '%t %p' > >(
  while read -r topic payload; do
    jq -r --arg t "$topic" \
      '"\($t)  \(.captured_at)  \(.camera_id)  \(.vrm)  \(.confidence*100|floor)%  plate \(.plate_jpeg|length*3/4|floor) B  overview \(.overview_jpeg|length*3/4|floor) B"' \
      <<<"$payload"
    echo "$payload" >> "$work/received.jsonl"
  done
) &
pids+=($!)

"$bin/anprd" run --config "$work/anprd.toml" 2>"$work/anprd.log" &
anprd=$!
pids+=($anprd)
sleep $(( seconds + 3 ))
kill -TERM "$anprd"
wait "$anprd" || true
sleep 1

vehicles=$(jq length "$work/truth.json")
received=$(wc -l < "$work/received.jsonl" 2>/dev/null || echo 0)
correct=$(jq -r '.vrm' "$work/received.jsonl" 2>/dev/null | grep -cxFf <(jq -r '.[].vrm' "$work/truth.json") || true)
echo "demo: $vehicles vehicles in the clip; $received reads received, $correct with the exact plate"
echo "demo: anprd's log:"
sed 's/^/  /' "$work/anprd.log"
