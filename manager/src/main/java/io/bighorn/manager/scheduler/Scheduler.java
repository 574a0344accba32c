package io.bighorn.manager.scheduler;

import java.util.ArrayList;
import java.util.List;

/** Interim placement (first fit on distinct nodes) until the full scheduler lands. */
public final class Scheduler {
    private Scheduler() {}

    public static Placement place(SchedulingRequest r) {
        List<Target> out = new ArrayList<>();
        List<String> used =
                new ArrayList<>(r.existing().stream().map(ExistingReplica::node).toList());
        for (NodeCandidate n : r.nodes()) {
            if (out.size() == r.count()) {
                break;
            }
            if (!n.ready()
                    || !n.allowScheduling()
                    || used.contains(n.name())
                    || n.disks().isEmpty()) {
                continue;
            }
            out.add(new Target(n.name(), n.disks().getFirst().name()));
            used.add(n.name());
        }
        List<Reason> reasons = out.size() == r.count()
                ? List.of()
                : List.of(new Reason(
                        r.nodes().isEmpty() ? ReasonCode.NO_NODES : ReasonCode.NODE_ANTI_AFFINITY,
                        r.nodes().isEmpty() ? "no node is registered" : "not enough nodes"));
        return new Placement(out, reasons);
    }
}
