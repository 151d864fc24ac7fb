import Glibc

/// Keeps heartbeats on time when the machine is busy: real-time round-robin
/// scheduling and memory that is never swapped out (as keepalived's
/// `vrrp_rt_priority` and `vrrp_no_swap`). Call while the process has one
/// thread: threads created later inherit the policy.
public enum Scheduling {
    /// Returns warnings (not errors): a node without these still works, it is
    /// only more likely to miss a heartbeat under load.
    public static func apply(realtimePriority: Int, lockMemory: Bool) -> [String] {
        var warnings: [String] = []
        if lockMemory {
            // After dropping root, vipd has no CAP_IPC_LOCK, so with MCL_FUTURE
            // every new mapping (a thread stack) must fit RLIMIT_MEMLOCK. Lock
            // only if the limit can be lifted; otherwise allocations would fail.
            var unlimited = rlimit(rlim_cur: rlim_t.max, rlim_max: rlim_t.max)  // RLIM_INFINITY
            if setrlimit(__rlimit_resource_t(__RLIMIT_MEMLOCK.rawValue), &unlimited) != 0 {
                warnings.append("lock_memory: cannot lift RLIMIT_MEMLOCK (\(String(cString: strerror(errno)))); memory is not locked. Set LimitMEMLOCK=infinity (systemd) or ulimit -l unlimited")
            } else if mlockall(MCL_CURRENT | MCL_FUTURE | 4) != 0 {
                // MCL_ONFAULT (4): lock pages as they are touched instead of
                // populating every mapping (thread stacks would cost megabytes).
                warnings.append("lock_memory: mlockall failed (\(String(cString: strerror(errno)))); memory may be swapped out")
            }
        }
        if realtimePriority > 0 {
            var parameters = sched_param()
            parameters.sched_priority = Int32(realtimePriority)
            if sched_setscheduler(0, SCHED_RR, &parameters) != 0 {
                warnings.append("realtime_priority: SCHED_RR \(realtimePriority) refused (\(String(cString: strerror(errno)))); running with normal scheduling. Run as root or set CPUSchedulingPolicy=rr in the unit")
            }
        }
        return warnings
    }
}
