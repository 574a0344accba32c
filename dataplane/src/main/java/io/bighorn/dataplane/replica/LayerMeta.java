package io.bighorn.dataplane.replica;

import java.util.Map;

/**
 * A layer's own metadata file ({@code layer-<id>.json}). The head has no name. A snapshot's file is
 * written once when it is created and rewritten only to mark it removed.
 *
 * @param created RFC 3339 UTC time
 */
record LayerMeta(String name, String created, boolean userCreated, Map<String, String> labels, boolean removed) {
    LayerMeta {
        labels = labels == null ? Map.of() : Map.copyOf(labels);
    }

    LayerMeta asRemoved() {
        return new LayerMeta(name, created, userCreated, labels, true);
    }
}
