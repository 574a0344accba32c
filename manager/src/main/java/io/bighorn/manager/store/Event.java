package io.bighorn.manager.store;

import io.bighorn.manager.model.Resource;

/** A change in the store, delivered to watchers in resource-version order. */
public record Event(Type type, String kind, String name, long resourceVersion, Resource<?> object) {
    public enum Type {
        ADDED,
        MODIFIED,
        DELETED
    }
}
