package io.bighorn.manager.model;

import java.time.Instant;
import java.util.Map;

/**
 * What every object carries besides its spec and status, as Kubernetes objects do.
 *
 * @param resourceVersion the store's version of the object when it was read; a write naming an older one is
 *     refused (optimistic concurrency); 0 for an object not stored yet
 * @param generation bumped by each change of the spec, not of the status
 * @param deletionRequestedAt when deletion was asked for: the reconcilers then tear the object down and remove it
 */
public record Meta(
        String name,
        String uid,
        long resourceVersion,
        long generation,
        Map<String, String> labels,
        Instant createdAt,
        Instant deletionRequestedAt) {
    public Meta {
        labels = labels == null ? Map.of() : Map.copyOf(labels);
    }

    /** The metadata of a new object, before the store assigns uid, version and creation time. */
    public static Meta named(String name) {
        return new Meta(name, "", 0, 0, Map.of(), null, null);
    }

    public Meta withLabels(Map<String, String> l) {
        return new Meta(name, uid, resourceVersion, generation, l, createdAt, deletionRequestedAt);
    }

    public Meta withDeletionRequestedAt(Instant at) {
        return new Meta(name, uid, resourceVersion, generation, labels, createdAt, at);
    }

    public boolean deleting() {
        return deletionRequestedAt != null;
    }
}
