package io.bighorn.manager.scheduler;

import java.util.List;

public record Placement(List<Target> targets, List<Reason> reasons) {
    public boolean complete() {
        return reasons.isEmpty();
    }
}
