#!/usr/bin/env bash
# slurm-local.sh -- start/stop a throw-away one-node Slurm cluster on this
# machine (Debian 12 packages, Slurm 22.05, no systemd, runs as root,
# loopback only). Written for the tfkd test harness.
#
# Usage:
#   slurm-local.sh start [--clean]   install packages if needed, write config,
#                                    start munged + slurmctld + slurmd (and
#                                    mariadbd + slurmdbd with accounting), wait
#                                    until the node is idle.
#                                    --clean wipes job state/logs first.
#   slurm-local.sh stop              cancel live jobs, stop the daemons this
#                                    script started (pid files in the state
#                                    folder), nothing else.
#   slurm-local.sh status            pids + sinfo/squeue; exit 0 iff all up
#   slurm-local.sh env               print `export SLURM_CONF=...` lines, for
#                                    eval "$(slurm-local.sh env)"
#
# Environment knobs (all optional):
#   SLURM_LOCAL_DIR          state folder (default /tmp/tfkd-slurm). Keep it
#                            short: the munge socket path must be < 108 bytes.
#   SLURM_LOCAL_CTLD_PORT    slurmctld port (default 6817)
#   SLURM_LOCAL_SLURMD_PORT  slurmd port (default 6818)
#   SLURM_LOCAL_CPUS         pretend the node has this many CPUs (default:
#                            the real count from `slurmd -C`)
#   SLURM_LOCAL_TIMEOUT      seconds to wait for the node to become idle (60)
#   SLURM_LOCAL_DEBUG        SlurmctldDebug/SlurmdDebug level (default info)
#   SLURM_LOCAL_KILLWAIT     seconds between SIGTERM and SIGKILL when a job is
#                            cancelled / times out (default 10)
#   SLURM_LOCAL_CRED_EXPIRE  AuthInfo cred_expire (default 10, minimum 5).
#                            A requeued job cannot start again before
#                            cred_expire + 1 seconds have passed.
#   SLURM_LOCAL_EXTRA_CONF   extra slurm.conf lines appended verbatim (e.g.
#                            "DependencyParameters=kill_invalid_depend");
#                            a repeated key overrides ours (slurm logs
#                            "specified more than once, latest value used").
#   SLURM_LOCAL_ACCOUNTING   1 = also install/start mariadb + slurmdbd so that
#                            `sacct` works (default 0: no sacct)
#   SLURM_LOCAL_DBD_PORT     slurmdbd port (default 6819)
#   SLURM_LOCAL_DB_PORT      mariadbd port on 127.0.0.1 (default 3307)
set -euo pipefail

DIR=${SLURM_LOCAL_DIR:-/tmp/tfkd-slurm}
CTLD_PORT=${SLURM_LOCAL_CTLD_PORT:-6817}
SLURMD_PORT=${SLURM_LOCAL_SLURMD_PORT:-6818}
TIMEOUT=${SLURM_LOCAL_TIMEOUT:-60}
DEBUG_LEVEL=${SLURM_LOCAL_DEBUG:-info}
KILLWAIT=${SLURM_LOCAL_KILLWAIT:-10}
CRED_EXPIRE=${SLURM_LOCAL_CRED_EXPIRE:-10}
EXTRA_CONF=${SLURM_LOCAL_EXTRA_CONF:-}
ACCOUNTING=${SLURM_LOCAL_ACCOUNTING:-0}
DBD_PORT=${SLURM_LOCAL_DBD_PORT:-6819}
DB_PORT=${SLURM_LOCAL_DB_PORT:-3307}

case "$DIR" in
    *[[:space:]]*) echo "slurm-local: SLURM_LOCAL_DIR must not contain whitespace" >&2; exit 2 ;;
    /*) ;;
    *) echo "slurm-local: SLURM_LOCAL_DIR must be an absolute path" >&2; exit 2 ;;
esac

CONF=$DIR/slurm.conf
DBD_CONF=$DIR/slurmdbd.conf   # slurmdbd reads it from dirname($SLURM_CONF)
MUNGE_ETC=$DIR/munge          # key + seed; must be 0700 (munged checks)
MUNGE_RUN=$DIR/munge-run      # socket + pid; munged demands o+x on the dir
MUNGE_KEY=$MUNGE_ETC/munge.key
MUNGE_SOCKET=$MUNGE_RUN/munge.socket
MUNGE_PID=$MUNGE_RUN/munged.pid
LOGDIR=$DIR/log
CTLD_PID=$DIR/slurmctld.pid
SLURMD_PID=$DIR/slurmd.pid
DBD_PID=$DIR/slurmdbd.pid
DB_DATA=$DIR/mysql
DB_SOCKET=$DIR/mysqld.sock
DB_PID=$DIR/mariadbd.pid

# sbin is not always on PATH for non-login shells.
export PATH=$PATH:/usr/sbin:/sbin

# Marker put into the environment of every daemon we start. `stop` only ever
# signals a process whose /proc/PID/comm is the expected daemon name AND whose
# environment carries this exact marker, so a recycled pid, a system daemon or
# another instance (different SLURM_LOCAL_DIR) is never touched.
MARKER="SLURM_LOCAL_INSTANCE=$DIR"

log() { echo "slurm-local: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- packages --
# ensure_packages "binary..." -- "package..."
ensure_packages() {
    local bins=() pkgs=() b need=0 seen_sep=0
    for b in "$@"; do
        if [ "$b" = -- ]; then seen_sep=1; continue; fi
        if [ "$seen_sep" = 0 ]; then bins+=("$b"); else pkgs+=("$b"); fi
    done
    for b in "${bins[@]}"; do
        command -v "$b" >/dev/null 2>&1 || need=1
    done
    [ "$need" = 0 ] && return 0
    log "installing ${pkgs[*]} with apt-get (one-off, ~15-30 s)"
    export DEBIAN_FRONTEND=noninteractive
    # The package postinsts call invoke-rc.d to start munge/slurmd/slurmctld/
    # mariadb with the *system* config. We do not want those (they would be
    # daemons we did not start and do not stop), so deny service starts during
    # the install unless a policy-rc.d already exists (Docker-style images,
    # including this one, ship one that does exactly this).
    local tmp_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        tmp_policy=1
    fi
    # --no-install-recommends: slurm-wlm's recommends pull ~35 plugin packages
    # (hdf5, influxdb, rocm-smi, ...) that we do not need; 9 packages, not 43.
    local ok=0
    if apt-get install -y -q --no-install-recommends "${pkgs[@]}"; then
        ok=1
    # Fresh image with empty/stale package lists: update and retry once.
    elif apt-get update -q && apt-get install -y -q --no-install-recommends "${pkgs[@]}"; then
        ok=1
    fi
    if [ "$tmp_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
    [ "$ok" = 1 ] || die "apt-get install ${pkgs[*]} failed"
    for b in "${bins[@]}"; do
        command -v "$b" >/dev/null 2>&1 || die "apt-get did not provide $b"
    done
}

# ------------------------------------------------------------ process utils --
# proc_ours NAME PID: true iff PID is a live (non-zombie) process whose comm
# is NAME and whose environment carries our marker.
proc_ours() {
    local name=$1 pid=$2 comm state
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    [ "$comm" = "$name" ] || return 1
    # A zombie is already dead (it only waits to be reaped by PID 1).
    state=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [ "$state" != Z ] || return 1
    tr '\0' '\n' 2>/dev/null < "/proc/$pid/environ" | grep -qxF "$MARKER"
}

# pid_ours NAME PIDFILE: echo the pid and return 0 iff the pid file names a
# process for which proc_ours holds.
pid_ours() {
    local name=$1 file=$2 pid
    [ -s "$file" ] || return 1
    pid=$(tr -dc '0-9' < "$file")
    [ -n "$pid" ] || return 1
    proc_ours "$name" "$pid" || return 1
    echo "$pid"
}

# slurmstepd processes (one per running job step) spawned by *our* slurmd.
# They inherit slurmd's environment (and so the marker); job processes get
# the submitter's environment instead, so they never match.
our_stepds() {
    local p
    for p in $(pgrep -x slurmstepd 2>/dev/null || true); do
        if proc_ours slurmstepd "$p"; then echo "$p"; fi
    done
    return 0
}

# descendants PID: all descendants of PID (children first-level first).
descendants() {
    local queue=("$1") next=() p c
    while [ "${#queue[@]}" -gt 0 ]; do
        next=()
        for p in "${queue[@]}"; do
            for c in $(pgrep -P "$p" 2>/dev/null || true); do
                echo "$c"; next+=("$c")
            done
        done
        queue=("${next[@]+"${next[@]}"}")
    done
}

# stop_pid NAME PID: TERM, wait up to 20 s, then KILL.
stop_pid() {
    local name=$1 pid=$2
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 200); do
        proc_ours "$name" "$pid" || return 0
        sleep 0.1
    done
    log "$name ($pid) ignored SIGTERM for 20 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
}

show_logs() {
    local f
    for f in "$LOGDIR"/munged.log "$LOGDIR"/mariadbd.err "$LOGDIR"/slurmdbd.log \
             "$LOGDIR"/slurmctld.log "$LOGDIR"/slurmd.log; do
        [ -e "$f" ] || continue
        echo "----- tail -n 25 $f -----" >&2
        tail -n 25 "$f" >&2 || true
    done
}

# wait_until SECONDS WHAT CMD...: poll CMD every 0.2 s.
wait_until() {
    local secs=$1 what=$2; shift 2
    local deadline=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "timed out after ${secs}s waiting for $what"
            return 1
        fi
        sleep 0.2
    done
}

# ------------------------------------------------------------------ config --
write_config() {
    local host cpus line real_cpus boards sockets cores threads mem node_hw overrides="" acct
    host=$(hostname -s)
    # `slurmd -C` prints exactly what slurmd will detect, e.g.
    # NodeName=vm CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=24105
    line=$(slurmd -C 2>/dev/null | head -n 1 || true)
    getv() { sed -n "s/.*[[:space:]]$1=\([0-9]*\).*/\1/p" <<<"$line"; }
    real_cpus=$(getv CPUs); boards=$(getv Boards); sockets=$(getv SocketsPerBoard)
    cores=$(getv CoresPerSocket); threads=$(getv ThreadsPerCore); mem=$(getv RealMemory)
    [ -n "$real_cpus" ] || real_cpus=$(nproc)
    [ -n "$mem" ] || mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 ))
    cpus=${SLURM_LOCAL_CPUS:-$real_cpus}
    if [ "$cpus" = "$real_cpus" ] && [ -n "$boards" ] && [ -n "$sockets" ] && [ -n "$cores" ] && [ -n "$threads" ]; then
        # Exact topology, so slurmd's registration matches and the node is
        # not drained for "Low socket*core*thread count".
        node_hw="CPUs=$cpus Boards=$boards SocketsPerBoard=$sockets CoresPerSocket=$cores ThreadsPerCore=$threads"
    else
        # Pretend CPU count: one core per CPU, and tell slurmd to trust the
        # config instead of the hardware (else the node is drained).
        node_hw="CPUs=$cpus SocketsPerBoard=1 CoresPerSocket=$cpus ThreadsPerCore=1"
        overrides="SlurmdParameters=config_overrides"
    fi

    if [ "$ACCOUNTING" = 1 ]; then
        # slurmctld -> slurmdbd. AccountingStoragePass names the munge socket
        # used on that connection (and by sacct/sacctmgr); without it they use
        # the system default /run/munge/munge.socket.2 and fail with
        # "Protocol authentication error".
        acct="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
AccountingStoragePass=$MUNGE_SOCKET"
    else
        acct="AccountingStorageType=accounting_storage/none"
    fi

    cat > "$CONF" <<EOF
# Generated by slurm-local.sh -- one-node throw-away cluster. Do not edit;
# rewritten on every 'start'.
ClusterName=tfkd-local
# Controller on this host; the address in parentheses avoids any DNS lookup.
# slurmctld only accepts a SlurmctldHost name equal to \`hostname -s\`.
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT

# Everything runs as root in this sandbox, and so do the daemons
# (SlurmUser=slurm would only need the state dirs chowned, for no gain).
SlurmUser=root
SlurmdUser=root

# Our own munged, with its own key and socket inside the state folder, so no
# system munge service is needed or touched. cred_expire also sets how long a
# *requeued* job must wait before it may start again (default 120 s; values
# below 5 are rejected and replaced by 120).
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET,cred_expire=$CRED_EXPIRE

StateSaveLocation=$DIR/ctld-state
SlurmdSpoolDir=$DIR/slurmd-spool
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmctldLogFile=$LOGDIR/slurmctld.log
SlurmdLogFile=$LOGDIR/slurmd.log
SlurmctldDebug=$DEBUG_LEVEL
SlurmdDebug=$DEBUG_LEVEL

# No cgroups: a VM/container without systemd and without a delegated cgroup
# tree. linuxproc tracks a job's processes through the parent-pid tree (so it
# also finds children that called setsid; pgid would lose those); task/none
# does no CPU binding. No cgroup.conf is needed with these plugins.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
MpiDefault=none
SwitchType=switch/none
LaunchType=launch/slurm

# Consumable CPUs, so N one-CPU jobs run at once on an N-CPU node (the default
# select/linear would hand the whole node to each job).
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU

# Without slurmdbd (the default here) sacct prints "Slurm accounting storage
# is disabled". Finished jobs stay in slurmctld memory for MinJobAge seconds,
# so 'squeue -t all' / 'scontrol show job' keep showing their final state and
# exit code; every completion is also appended to a text log (jobcomp/filetxt).
$acct
JobCompType=jobcomp/filetxt
JobCompLoc=$LOGDIR/jobcomp.log
MinJobAge=3600

# Allow 'scontrol requeue' / --requeue and requeue after node failure.
JobRequeue=1

# A job with a dependency that can never be satisfied (afterok on a failed
# job) stays PENDING with Reason=DependencyNeverSatisfied by default. Kept
# at the default; use 'sbatch --kill-on-invalid-dep=yes' per job to get it
# CANCELLED instead (or DependencyParameters=kill_invalid_depend via
# SLURM_LOCAL_EXTRA_CONF).

# Fast scheduling for tests. Submits and job completions trigger the main
# scheduler anyway, but a job whose BeginTime passes (e.g. a requeued job,
# see cred_expire) is only picked up by the periodic passes: defaults are
# 60 s (main) and 30 s (backfill), measured ~30 s extra delay after requeue.
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=5,sched_min_interval=100000
PriorityType=priority/basic

# Grace time between SIGTERM and SIGKILL on scancel/timeout/requeue.
KillWait=$KILLWAIT
# Generous timeouts: the 2 cores may be busy with a build.
SlurmctldTimeout=120
SlurmdTimeout=300
MessageTimeout=30
InactiveLimit=0
# A node that was DOWN (e.g. after an unclean stop) returns to service as
# soon as its slurmd registers again.
ReturnToService=2
# No mail program is installed; avoid warnings.
MailProg=/bin/true
${overrides}

NodeName=$host NodeAddr=127.0.0.1 NodeHostname=$host $node_hw RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
    if [ -n "$EXTRA_CONF" ]; then
        printf '\n# SLURM_LOCAL_EXTRA_CONF\n%s\n' "$EXTRA_CONF" >> "$CONF"
    fi

    if [ "$ACCOUNTING" = 1 ]; then
        # slurmdbd insists on mode 0600 and ownership by SlurmUser.
        ( umask 077; cat > "$DBD_CONF" <<EOF
# Generated by slurm-local.sh
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
PidFile=$DBD_PID
LogFile=$LOGDIR/slurmdbd.log
DebugLevel=$DEBUG_LEVEL
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
EOF
        )
    else
        rm -f "$DBD_CONF"
    fi
}

ensure_munge_key() {
    mkdir -p "$MUNGE_ETC"
    chmod 700 "$MUNGE_ETC"
    if [ ! -s "$MUNGE_KEY" ]; then
        if command -v mungekey >/dev/null 2>&1; then
            mungekey --create --keyfile="$MUNGE_KEY"
        else
            dd if=/dev/urandom of="$MUNGE_KEY" bs=1024 count=1 status=none
        fi
    fi
    chmod 600 "$MUNGE_KEY"
}

db_query() { mariadb --no-defaults -S "$DB_SOCKET" -uroot -e "$1"; }

start_mariadb() {
    if [ ! -d "$DB_DATA/mysql" ]; then
        mkdir -p "$DB_DATA"
        mariadb-install-db --no-defaults --datadir="$DB_DATA" --user=root \
            --auth-root-authentication-method=normal --skip-test-db \
            > "$LOGDIR/mariadb-install-db.log" 2>&1 \
            || { tail -n 20 "$LOGDIR/mariadb-install-db.log" >&2; die "mariadb-install-db failed"; }
    fi
    # (buffer pool >= 512M only silences slurmdbd's "Database settings not
    # recommended values" log line; the memory is only touched when used.)
    # mariadbd does not daemonize: detach it (setsid, all fds redirected, so a
    # caller reading our stdout/stderr through a pipe does not hang on it).
    setsid env "$MARKER" mariadbd --no-defaults --datadir="$DB_DATA" --user=root \
        --socket="$DB_SOCKET" --pid-file="$DB_PID" --port="$DB_PORT" \
        --bind-address=127.0.0.1 --log-error="$LOGDIR/mariadbd.err" \
        --innodb-buffer-pool-size=512M --innodb-lock-wait-timeout=900 \
        </dev/null >/dev/null 2>&1 &
    wait_until 60 "mariadbd" db_query 'SELECT 1' || { show_logs; die "mariadbd did not come up"; }
    db_query "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm';
              GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"
}

# ------------------------------------------------------------- subcommands --
node_state() { sinfo -h -n "$(hostname -s)" -o '%t' 2>/dev/null | head -n 1; }
node_ready() { case "$(node_state)" in idle|mixed|mix|alloc|allocated) return 0 ;; esac; return 1; }

# All daemons of this instance as "name:pidfile" (in start order). The
# accounting pair is included when asked for or when the last start wrote a
# slurmdbd.conf, so 'stop'/'status' work without SLURM_LOCAL_ACCOUNTING set.
daemons() {
    echo "munged:$MUNGE_PID"
    if [ "$ACCOUNTING" = 1 ] || [ -e "$DBD_CONF" ]; then
        echo "mariadbd:$DB_PID"; echo "slurmdbd:$DBD_PID"
    fi
    echo "slurmctld:$CTLD_PID"
    echo "slurmd:$SLURMD_PID"
}

cmd_start() {
    local clean=0
    [ "${1:-}" = "--clean" ] && clean=1
    local t0=$SECONDS

    ensure_packages munged mungekey slurmctld slurmd slurmstepd sbatch squeue sinfo scontrol \
        -- slurm-wlm munge
    if [ "$ACCOUNTING" = 1 ]; then
        ensure_packages slurmdbd mariadbd mariadb-install-db mariadb sacct -- slurmdbd mariadb-server
    fi

    # Already (partly) running?
    local entry name file pid up="" down=""
    for entry in $(daemons); do
        name=${entry%%:*}; file=${entry#*:}
        if pid=$(pid_ours "$name" "$file"); then up="$up $name=$pid"; else down="$down $name"; fi
    done
    if [ -n "$up" ]; then
        if [ -z "$down" ] && [ "$clean" = 0 ]; then
            log "already running in $DIR ($up ); reusing"
            return 0
        fi
        die "daemons of a previous start still run in $DIR ($up ); run '$0 stop' first"
    fi

    if [ "$clean" = 1 ]; then
        rm -rf "$DIR/ctld-state" "$DIR/slurmd-spool" "$LOGDIR" "$DB_DATA"
    fi
    mkdir -p "$DIR" "$DIR/ctld-state" "$DIR/slurmd-spool" "$LOGDIR" "$MUNGE_RUN"
    # munged refuses a socket directory that is not o+x (clients must reach it).
    chmod 755 "$DIR" "$MUNGE_RUN"
    ensure_munge_key
    write_config
    rm -f "$MUNGE_SOCKET" "$MUNGE_PID" "$CTLD_PID" "$SLURMD_PID" "$DBD_PID" "$DB_PID"

    export SLURM_CONF=$CONF
    # munged, slurmdbd, slurmctld and slurmd daemonize themselves (stdio goes
    # to /dev/null) and write their own pid files; each is started with our
    # marker in its environment.
    env "$MARKER" munged \
        --key-file="$MUNGE_KEY" --socket="$MUNGE_SOCKET" --pid-file="$MUNGE_PID" \
        --seed-file="$MUNGE_ETC/munged.seed" --log-file="$LOGDIR/munged.log" \
        || { show_logs; die "munged failed to start"; }
    if [ "$ACCOUNTING" = 1 ]; then
        start_mariadb
        env "$MARKER" slurmdbd \
            || { show_logs; cmd_stop >/dev/null 2>&1 || true; die "slurmdbd failed to start"; }
        # slurmctld registers the cluster in the database by itself once
        # slurmdbd answers.
        wait_until 60 "slurmdbd" sacctmgr -n show cluster \
            || { show_logs; cmd_stop >/dev/null 2>&1 || true; die "slurmdbd did not come up"; }
    fi
    env "$MARKER" slurmctld -f "$CONF" \
        || { show_logs; cmd_stop >/dev/null 2>&1 || true; die "slurmctld failed to start"; }
    env "$MARKER" slurmd -f "$CONF" \
        || { show_logs; cmd_stop >/dev/null 2>&1 || true; die "slurmd failed to start"; }

    if ! wait_until "$TIMEOUT" "node $(hostname -s) to become idle" node_ready; then
        log "sinfo state: '$(node_state || true)'"
        sinfo -N -l >&2 || true
        scontrol show node >&2 || true
        show_logs
        cmd_stop >/dev/null 2>&1 || true
        die "start failed; daemons stopped"
    fi
    log "up in $((SECONDS - t0)) s: node $(hostname -s) is $(node_state); SLURM_CONF=$CONF"
}

cmd_stop() {
    local entry name file pid ids="" p pids=""
    export SLURM_CONF=$CONF
    # 1. Cancel every live job so that its slurmstepd and job processes exit
    #    cleanly: slurmd leaves running steps alone when it is stopped.
    if pid_ours slurmctld "$CTLD_PID" >/dev/null; then
        ids=$(squeue -h -t PENDING,RUNNING,SUSPENDED,CONFIGURING,COMPLETING,REQUEUED,REQUEUE_HOLD,REQUEUE_FED,RESIZING,SIGNALING,STAGE_OUT,STOPPED -o '%A' 2>/dev/null | sort -u || true)
        if [ -n "$ids" ]; then
            # shellcheck disable=SC2086
            scancel $ids 2>/dev/null || true
        fi
    fi
    # 2. Wait (up to KillWait + 5 s) for the step daemons to go away.
    if [ -n "$ids" ]; then
        for _ in $(seq 1 $(( (KILLWAIT + 5) * 5 ))); do
            [ -z "$(our_stepds)" ] && break
            sleep 0.2
        done
    fi
    # 3. Daemons in reverse start order.
    for entry in $(daemons | tac); do
        name=${entry%%:*}; file=${entry#*:}
        if pid=$(pid_ours "$name" "$file"); then
            pids="$pids $pid"
            stop_pid "$name" "$pid"
            log "stopped $name ($pid)"
        fi
        # 4. After slurmd: any step daemon that survived (e.g. slurmctld was
        #    already dead, so nothing cancelled its job): freeze it and all
        #    its descendants (the job's processes), then kill them.
        if [ "$name" = slurmd ]; then
            for p in $(our_stepds); do
                local tree
                tree="$p $(descendants "$p" | tr '\n' ' ')"
                log "killing leftover slurmstepd $p and its descendants:$tree"
                # shellcheck disable=SC2086
                kill -STOP $tree 2>/dev/null || true
                # shellcheck disable=SC2086
                kill -KILL $tree 2>/dev/null || true
            done
        fi
        rm -f "$file"
    done
    # The daemons double-fork, so their parent is PID 1, which here reaps
    # exited children only every few seconds; until then they linger as
    # <defunct> entries that `pgrep slurm` still lists. Give it up to 10 s.
    for _ in $(seq 1 50); do
        local left=""
        for p in $pids; do if [ -e "/proc/$p" ]; then left="$left $p"; fi; done
        [ -z "$left" ] && break
        sleep 0.2
    done
    log "stopped"
}

cmd_status() {
    local entry name file pid rc=0
    echo "state dir: $DIR"
    for entry in $(daemons); do
        name=${entry%%:*}; file=${entry#*:}
        if pid=$(pid_ours "$name" "$file"); then
            printf '%-10s %s\n' "$name:" "$pid"
        else
            printf '%-10s %s\n' "$name:" "not running"; rc=3
        fi
    done
    if pid_ours slurmctld "$CTLD_PID" >/dev/null; then
        SLURM_CONF=$CONF sinfo || rc=3
        SLURM_CONF=$CONF squeue -t all || true
    fi
    return $rc
}

cmd_env() {
    echo "export SLURM_CONF=$CONF"
    echo "export SLURM_LOCAL_DIR=$DIR"
}

case "${1:-}" in
    start)  shift; cmd_start "$@" ;;
    stop)   cmd_stop ;;
    status) cmd_status ;;
    env)    cmd_env ;;
    *) echo "usage: $0 {start [--clean]|stop|status|env}" >&2; exit 2 ;;
esac
