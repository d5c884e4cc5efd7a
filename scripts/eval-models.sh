#!/bin/sh
# Scores the committed models (and the classic engine, as a same-run
# baseline) with `anprd eval`: the generated test set (anprd-synth plates,
# seed 424242, 2,000 pictures, a seed no training run uses) and, when
# present, the real OpenALPR benchmark photographs in ../shared/eval
# (evaluation only: never trained on, never copied into this repository).
#
#   scripts/eval-models.sh [WORK_DIR]
set -eu
cd "$(dirname "$0")/.."
work=${1:-/var/tmp/anprd-eval}
cargo build --release --bin anprd --bin anprd-synth
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
bin=$target/release
# Drawn afresh every time: the set follows the generator and the plate rules.
rm -rf "$work/gen-test"
"$bin/anprd-synth" plates --out "$work/gen-test" --count 2000 --seed 424242
# The same plates smeared 3-9 px at any size, as the set was drawn until
# 2026-12-06: the figures models/README.md records before then are on it.
rm -rf "$work/gen-test-px"
"$bin/anprd-synth" plates --out "$work/gen-test-px" --count 2000 --seed 424242 --blur-in-pixels
# UK plates are scored through the UK plate rules, as the daemon reads them;
# US and Brazilian plates without (the rules are for UK marks).
for engine in neural classic; do
    echo "== $engine, UK rules: generated test set"
    "$bin/anprd" eval --engine "$engine" "$work/gen-test"
    echo "== $engine, UK rules: generated test set, smeared in pixels"
    "$bin/anprd" eval --engine "$engine" "$work/gen-test-px"
done
for d in ../shared/eval/openalpr-us ../shared/eval/openalpr-br; do
    [ -d "$d" ] || continue
    for engine in neural classic; do
        echo "== $engine, no rules: $d"
        "$bin/anprd" eval --engine "$engine" --no-rules "$d"
    done
    # The same photographs looked at as the daemon looks at a video frame
    # (no tiles): what the still-picture look adds.
    echo "== neural, no rules, as video frames: $d"
    "$bin/anprd" eval --as-frame --no-rules "$d"
done
# Brazilian plates through Brazil's own formats (configured patterns).
if [ -d ../shared/eval/openalpr-br ]; then
    echo "== neural, Brazilian formats: ../shared/eval/openalpr-br"
    "$bin/anprd" eval -c scripts/eval-br-formats.toml ../shared/eval/openalpr-br
fi
# Pictures cut close around their plates (close photographs, collections of
# plate pictures): the generated test set and the photographs, each plate
# with random margins (scripts/crop-to-plates.py, Pillow), read as stills.
if python3 -c 'import PIL' 2>/dev/null; then
    for set in gen-test:"$work/gen-test":1 us:../shared/eval/openalpr-us:2 br:../shared/eval/openalpr-br:3; do
        name=${set%%:*}; rest=${set#*:}; src=${rest%:*}; seed=${rest##*:}
        [ -d "$src" ] || continue
        rm -rf "$work/$name-crop"
        python3 scripts/crop-to-plates.py "$src" "$work/$name-crop" "$seed"
        rules=--no-rules
        [ "$name" = gen-test ] && rules=
        echo "== neural, cut close around the plates: $src"
        "$bin/anprd" eval $rules "$work/$name-crop"
    done
    # European plates with hyphens, seals or emblems between their groups
    # (scripts/eu-probe.py): the same 200 plates with each separator.
    if [ -f /usr/share/fonts/truetype/opendin/OSP-DIN.ttf ]; then
        for sep in space hyphen seals shield star; do
            rm -rf "$work/eu-$sep"
            python3 scripts/eu-probe.py "$work/eu-$sep" 7 "$sep" 200
            echo "== neural, no rules, European plates, separator $sep"
            "$bin/anprd" eval --no-rules "$work/eu-$sep"
        done
    fi
else
    echo "(no Pillow: the close-cut and European sets are skipped)"
fi
