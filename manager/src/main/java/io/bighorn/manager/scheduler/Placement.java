package io.bighorn.manager.scheduler;

import java.util.List;

/**
 * What the scheduler decided.
 *
 * @param targets the replicas placed, in order (may be fewer than asked)
 * @param reasons why the rest could not be placed; empty when all were
 */
public record Placement(List<Target> targets, List<Reason> reasons) {
    public Placement {
        targets = List.copyOf(targets);
        reasons = List.copyOf(reasons);
    }

    public boolean complete() {
        return reasons.isEmpty();
    }
}
