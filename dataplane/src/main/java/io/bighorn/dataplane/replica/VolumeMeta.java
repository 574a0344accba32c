package io.bighorn.dataplane.replica;

import java.util.ArrayList;
import java.util.List;

/**
 * The replica's one metadata file ({@code volume.json}): size, epoch, the head and the tree of layers.
 * Every change to the chain commits by replacing this file atomically; layer files it does not name are
 * leftovers of an interrupted operation and are deleted at open.
 *
 * @param layers every layer, each with its parent id (0 for a base layer), in creation order
 * @param rebuilding set while the replica's snapshots are being copied from another replica; such a
 *     replica's data is incomplete and an engine starts it in ERR
 */
record VolumeMeta(
        int version, long size, long head, long nextLayerId, long epoch, List<Link> layers, boolean rebuilding) {
    static final int VERSION = 1;

    /** One layer of the tree. */
    record Link(long id, long parent) {}

    VolumeMeta {
        layers = List.copyOf(layers);
    }

    long parentOf(long id) {
        for (Link l : layers) {
            if (l.id() == id) {
                return l.parent();
            }
        }
        throw new IllegalArgumentException("no layer " + id);
    }

    boolean contains(long id) {
        return layers.stream().anyMatch(l -> l.id() == id);
    }

    List<Long> childrenOf(long id) {
        List<Long> children = new ArrayList<>();
        for (Link l : layers) {
            if (l.parent() == id && l.id() != id) {
                children.add(l.id());
            }
        }
        return children;
    }

    /** The chain from the base layer up to and including {@code top}. */
    List<Long> chainTo(long top) {
        List<Long> chain = new ArrayList<>();
        for (long id = top; id != 0; id = parentOf(id)) {
            chain.addFirst(id);
            if (chain.size() > layers.size()) {
                throw new IllegalStateException("cycle in the layer tree at layer " + id);
            }
        }
        return chain;
    }

    VolumeMeta withSize(long newSize) {
        return new VolumeMeta(version, newSize, head, nextLayerId, epoch, layers, rebuilding);
    }

    VolumeMeta withEpoch(long newEpoch) {
        return new VolumeMeta(version, size, head, nextLayerId, newEpoch, layers, rebuilding);
    }

    VolumeMeta withLayers(long newHead, long newNext, List<Link> newLayers) {
        return new VolumeMeta(version, size, newHead, newNext, epoch, newLayers, rebuilding);
    }

    VolumeMeta withRebuilding(boolean flag) {
        return new VolumeMeta(version, size, head, nextLayerId, epoch, layers, flag);
    }
}
