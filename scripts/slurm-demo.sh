#!/usr/bin/env bash
# Grade a class on a real, single-node Slurm, as the README's recipe says, and check it.
#
# Installs Debian's slurm-wlm and munge when missing, starts munged, slurmctld and slurmd
# on a private configuration (nothing under /etc is changed), grades the class as an
# array job (scripts/slurm/grade-array.sbatch: one `citylib grade --shard K/N` a task),
# merges the slices in a job that waits for the whole array (afterok), grades the same
# class again in one un-sharded run with the same seed, and compares the two check for
# check. The daemons are stopped at the end, also on failure or interruption.
#
# Usage (as root): scripts/slurm-demo.sh [OUT]      OUT defaults to slurm-demo/
#   SHARDS=4          array tasks (slices)
#   COPIES=1          copies of tests/submissions/*.ipynb in the class, under distinct names
#   CPUS_PER_TASK=1   cores a task asks for (the node offers every core of this machine)
#   SEED=271828       the class's seed, for both runs
#   SLURM_DEMO_TIMEOUT=600   seconds allowed to every wait (daemons up, the jobs, shutdown)
#   SLURM_DEMO_PORT=6817     slurmctld's port; slurmd takes the next one
#   CITYLIB=.venv/bin/citylib
# Exit status: 0 when the merged grades equal the single run's check for check; 77 when
# this machine cannot run Slurm (not root, or Slurm missing and no apt-get); 1 otherwise.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(mkdir -p "${1:-slurm-demo}" && cd "${1:-slurm-demo}" && pwd)
SHARDS=${SHARDS:-4}
COPIES=${COPIES:-1}
CPUS_PER_TASK=${CPUS_PER_TASK:-1}
SEED=${SEED:-271828}
TIMEOUT=${SLURM_DEMO_TIMEOUT:-600}
PORT=${SLURM_DEMO_PORT:-6817}
CITYLIB=${CITYLIB:-$REPO/.venv/bin/citylib}
RECIPE=$REPO/scripts/slurm/grade-array.sbatch

say() { printf '== %s\n' "$*"; }
cannot() { printf 'slurm-demo: cannot run here: %s\n' "$*" >&2; exit 77; }
fail() { printf 'slurm-demo: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }

[ "$(id -u)" = 0 ] || cannot "slurmd and munged run as root, and this is uid $(id -u)"
[ -x "$CITYLIB" ] || fail "no $CITYLIB: run make install first"

# One demo at a time: they would share the ports (and apt).
exec 9>/tmp/citylib-slurm-demo.lock
flock -w "$TIMEOUT" 9 || fail "another slurm-demo held the lock for ${TIMEOUT} s"

# --- install (only what is missing) ---------------------------------------------------
need=()
for tool in slurmctld slurmd sbatch munged mungekey; do
    command -v "$tool" >/dev/null 2>&1 || need+=("$tool")
done
if [ "${#need[@]}" -gt 0 ]; then
    command -v apt-get >/dev/null 2>&1 || cannot "no ${need[*]}, and no apt-get to install them"
    say "installing slurm-wlm and munge (missing: ${need[*]})"
    started=$(now)
    timeout "$TIMEOUT" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive timeout "$TIMEOUT" apt-get install -y -qq \
        -o DPkg::Lock::Timeout=120 --no-install-recommends slurm-wlm munge >/dev/null
    say "installed in $(python3 -c "print(f'{$(now) - $started:.1f}')") s"
fi

# --- a private single-node cluster --------------------------------------------------------
STATE=$(mktemp -d /tmp/citylib-slurm.XXXXXX)
chmod 755 "$STATE"   # munged wants everyone to reach its socket's folder
mkdir -p "$STATE/ctld" "$STATE/spool" "$STATE/log"
export SLURM_CONF=$STATE/slurm.conf
NODE=$(hostname -s)
pids=()
our_jobs=""

stop() {
    local status=$?
    set +e
    trap - EXIT INT TERM
    if [ -n "$our_jobs" ]; then
        scancel ${our_jobs//,/ } 2>/dev/null   # ours only, by id
        for _ in $(seq 1 60); do
            [ -z "$(squeue -h -j "$our_jobs" 2>/dev/null)" ] && break
            sleep 0.5
        done
    fi
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${pids[@]}"; do
        for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    if [ "${#pids[@]}" -gt 0 ]; then
        say "stopped munged, slurmctld and slurmd (pids ${pids[*]})"
    fi
    mkdir -p "$OUT/logs"
    cp -r "$STATE/log/." "$OUT/logs/" 2>/dev/null
    rm -rf "$STATE"
    exit "$status"
}
trap stop EXIT
trap 'exit 1' INT TERM

mungekey --create --keyfile "$STATE/munge.key"
munged --foreground --socket "$STATE/munge.socket" --key-file "$STATE/munge.key" \
    --log-file "$STATE/log/munged.log" --pid-file "$STATE/munged.pid" \
    --seed-file "$STATE/munged.seed" >>"$STATE/log/daemons.out" 2>&1 &
pids+=($!)

# The node is this machine as slurmd sees it (cores, memory), under the name slurmd
# will look for; linuxproc tracks a job's processes without cgroups, which a container
# may not delegate; no accounting database: jobcomp/filetxt records each finished task.
cat >"$SLURM_CONF" <<EOF
ClusterName=citylib
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$STATE/munge.socket
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
MailProg=/bin/true
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$STATE/log/jobcomp.txt
MinJobAge=3600
NodeName=$NODE NodeAddr=127.0.0.1 $(slurmd -C | head -n 1 | cut -d' ' -f2-) State=UNKNOWN
PartitionName=grading Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF

for _ in $(seq 1 100); do [ -S "$STATE/munge.socket" ] && break; sleep 0.1; done
[ -S "$STATE/munge.socket" ] || fail "munged did not start: $(cat "$STATE/log/munged.log")"
# In the foreground (-D) so that their pids are ours to stop; each also keeps a log.
slurmctld -D -f "$SLURM_CONF" >>"$STATE/log/daemons.out" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" >>"$STATE/log/daemons.out" 2>&1 &
pids+=($!)

deadline=$(( $(date +%s) + TIMEOUT ))
until [ "$(sinfo -h -N -o %T 2>/dev/null)" = idle ]; do
    for pid in "${pids[@]}"; do
        kill -0 "$pid" 2>/dev/null || fail "a daemon (pid $pid) exited: $(tail -n 20 "$STATE"/log/*.log)"
    done
    [ "$(date +%s)" -lt "$deadline" ] || fail "the node was not idle within ${TIMEOUT} s"
    sleep 0.5
done
say "Slurm $(sinfo -V | cut -d' ' -f2) up on $NODE: $(sinfo -h -N -o '%c CPUs, %m MB, %T')"

# --- the class -------------------------------------------------------------------------
rm -rf "$OUT/submissions" "$OUT/grades" "$OUT/single" "$OUT"/slurm-*.out "$OUT/squeue.log"
mkdir -p "$OUT/submissions"
for copy in $(seq 1 "$COPIES"); do
    for nb in "$REPO"/tests/submissions/*.ipynb; do
        name=$(basename "$nb")
        [ "$COPIES" -gt 1 ] && name="c$(printf %03d "$copy")-$name"
        cp "$nb" "$OUT/submissions/$name"
    done
done
count=$(find "$OUT/submissions" -name '*.ipynb' | wc -l)
cd "$OUT"
export PATH="$(dirname "$CITYLIB"):$PATH" SHARDS SEED   # the tasks inherit them

# --- the array, and the merge that waits for it ------------------------------------------
say "grading $count notebooks as $SHARDS array tasks of $CPUS_PER_TASK CPU(s): $RECIPE"
array_start=$(now)
JOB=$(sbatch --parsable --array="1-$SHARDS" --cpus-per-task="$CPUS_PER_TASK" --mem=1G "$RECIPE")
our_jobs=$JOB
# The README's merge job, word for word.
merged=$(sbatch --parsable --dependency=afterok:$JOB --kill-on-invalid-dep=yes --job-name=sprint-merge --wrap 'citylib grade --merge grades/shard-* --out grades/all')
array=$JOB
our_jobs="$array,$merged"
say "submitted array job $array and merge job $merged (afterok:$array)"
deadline=$(( $(date +%s) + TIMEOUT ))
while :; do
    queue=$(squeue -h -r -j "$our_jobs" -o "%i %j %T %M %R") || fail "squeue failed"
    [ -n "$queue" ] || break
    printf -- '--- %s\n%s\n' "$(now)" "$queue" >>squeue.log
    [ "$(date +%s)" -lt "$deadline" ] || fail "the jobs were not done within ${TIMEOUT} s"
    sleep 0.5
done
array_end=$(now)
scontrol show job "$array" >scontrol-array.txt 2>&1 || true
cp "$STATE/log/jobcomp.txt" jobcomp.txt
[ -f grades/all/grades.json ] || fail "no merged grades: $(cat slurm-*.out)"

# --- the same class, one un-sharded run ------------------------------------------------------
say "grading the same $count notebooks in one run, seed $SEED"
single_start=$(now)
timeout "$TIMEOUT" citylib grade submissions/*.ipynb --seed "$SEED" --out single --quiet \
    >single.out 2>&1 || fail "the single run failed: $(tail -n 20 single.out)"
single_end=$(now)

cat >times.json <<EOF
{"array_start": $array_start, "array_end": $array_end, "single_start": $single_start,
 "single_end": $single_end, "array_job": $array, "merge_job": $merged, "shards": $SHARDS,
 "notebooks": $count, "cpus_per_task": $CPUS_PER_TASK, "seed": $SEED}
EOF
python3 "$REPO/scripts/slurm/report.py" "$OUT"
