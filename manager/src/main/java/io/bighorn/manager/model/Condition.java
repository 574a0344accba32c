package io.bighorn.manager.model;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/** An observation about an object, Kubernetes style: a type, whether it holds, why, since when. */
public record Condition(String type, boolean status, String reason, String message, Instant lastTransitionTime) {

    /** {@code conditions} with {@code c} set: the transition time moves only when the status changes. */
    public static List<Condition> set(List<Condition> conditions, Condition c) {
        List<Condition> out = new ArrayList<>();
        boolean found = false;
        for (Condition old : conditions) {
            if (old.type().equals(c.type())) {
                found = true;
                Instant t = old.status() == c.status() ? old.lastTransitionTime() : c.lastTransitionTime();
                out.add(new Condition(c.type(), c.status(), c.reason(), c.message(), t));
            } else {
                out.add(old);
            }
        }
        if (!found) {
            out.add(c);
        }
        return List.copyOf(out);
    }

    public static boolean holds(List<Condition> conditions, String type) {
        return conditions.stream().anyMatch(c -> c.type().equals(type) && c.status());
    }
}
