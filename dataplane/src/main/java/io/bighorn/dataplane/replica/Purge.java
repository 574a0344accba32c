package io.bighorn.dataplane.replica;

import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * One purge of a replica's removed snapshots, run under the replica's operation lock beside live I/O.
 *
 * <p>Why the copies are safe while reads go on: a removed snapshot L with one child C is only read
 * through C. Copying C's blocks into L's file changes L only where C holds the block, and there every
 * read already goes to C; copying L's blocks into holes of C's file puts in C exactly what reads of those
 * blocks returned from L. So until the commit every read returns what it did, and a crash leaves a chain
 * that reads the same. The commit names the merged file as a new layer with C's metadata; only that
 * swap, and closing the old descriptors, waits for in-flight I/O.
 */
final class Purge {
    private final Replica replica;
    private final List<String> purged = new ArrayList<>();
    private final Set<Long> pruned = new HashSet<>();

    Purge(Replica replica) {
        this.replica = replica;
    }

    List<String> run() throws IOException {
        boolean progress = true;
        while (progress) {
            progress = false;
            for (VolumeMeta.Link link : replica.meta().layers()) {
                Layer l = replica.layer(link.id());
                if (l == replica.head() || !l.meta().removed()) {
                    continue;
                }
                List<Long> children = replica.meta().childrenOf(l.id);
                if (children.isEmpty()) {
                    removeLeaf(l);
                    progress = true;
                } else if (children.size() == 1 && children.getFirst() == replica.head().id) {
                    if (pruned.add(l.id)) {
                        prune(l);
                    }
                } else if (children.size() == 1) {
                    coalesce(l, replica.layer(children.getFirst()));
                    progress = true;
                }
                if (progress) {
                    break;
                }
            }
        }
        return purged;
    }

    /** A removed snapshot nothing stands on: drop it. */
    private void removeLeaf(Layer l) throws IOException {
        VolumeMeta m = replica.meta();
        List<VolumeMeta.Link> links = new ArrayList<>();
        for (VolumeMeta.Link link : m.layers()) {
            if (link.id() != l.id) {
                links.add(link);
            }
        }
        Faults.at("purge.beforeCommit");
        replica.commit(m.withLayers(m.head(), m.nextLayerId(), links));
        purged.add(l.meta().name());
        replica.replaceLayers(Replica.setOf(l.id), null);
    }

    /** A removed snapshot right under the head: punch the blocks the head has overwritten. */
    private void prune(Layer l) throws IOException {
        Set<Integer> slotsOfL = new HashSet<>();
        Layer[] sl = replica.slots();
        for (int i = 1; i < sl.length; i++) {
            if (sl[i] == l) {
                slotsOfL.add(i);
            }
        }
        BlockMap index = replica.index();
        List<long[]> overwritten = new ArrayList<>();
        index.forEachRun(0, index.blocks(), (from, to, v) -> {
            if ((v & Replica.HEAD) != 0 && slotsOfL.contains(v & ~Replica.HEAD)) {
                overwritten.add(new long[] {from, to});
            }
        });
        if (overwritten.isEmpty()) {
            return;
        }
        // the head's copy of these blocks must be durable before L's copy goes, or a power loss could
        // leave an older layer's data showing
        replica.head().file.datasync();
        for (long[] run : overwritten) {
            l.file.punchHole(run[0] * Replica.BLOCK, (run[1] - run[0]) * Replica.BLOCK);
        }
        l.file.datasync();
    }

    /** A removed snapshot with one child snapshot: merge the two into one layer that takes the child's place. */
    private void coalesce(Layer l, Layer c) throws IOException {
        Layer into;
        if (c.allocatedBytes() <= l.allocatedBytes()) {
            Extents.copyData(c.file, l.file);
            into = l;
        } else {
            Extents.copyIntoHoles(l.file, c.file);
            into = c;
        }
        into.file.datasync();
        Faults.at("purge.afterCopy");
        ReplicaFiles files = replica.files();
        VolumeMeta m = replica.meta();
        long mergedId = m.nextLayerId();
        Layer merged;
        try {
            Files.createLink(files.image(mergedId), files.image(into.id));
            files.writeLayer(mergedId, c.meta());
            merged = new Layer(mergedId, NativeFile.open(files.image(mergedId), NativeFile.O_RDWR), c.meta());
        } catch (IOException | RuntimeException e) {
            files.deleteLayer(mergedId);
            throw e;
        }
        long parent = m.parentOf(l.id);
        List<VolumeMeta.Link> links = new ArrayList<>();
        for (VolumeMeta.Link link : m.layers()) {
            if (link.id() == c.id) {
                links.add(new VolumeMeta.Link(mergedId, parent));
            } else if (link.parent() == c.id) {
                links.add(new VolumeMeta.Link(link.id(), mergedId));
            } else if (link.id() != l.id) {
                links.add(link);
            }
        }
        boolean inChain = m.chainTo(m.head()).contains(c.id);
        if (inChain) {
            replica.ioLock().writeLock().lock();
        }
        try {
            Faults.at("purge.beforeCommit");
            replica.addLayer(merged); // readers resolve ids through the layer map: add before the commit names it
            try {
                replica.commit(m.withLayers(m.head(), mergedId + 1, links));
            } catch (IOException | RuntimeException e) {
                if (!Replica.mayHaveCommitted(e)) {
                    replica.removeLayer(mergedId);
                    Replica.closeQuietly(merged);
                    files.deleteLayer(mergedId);
                }
                throw e;
            }
            purged.add(l.meta().name());
            replica.replaceLayers(Replica.setOf(l.id, c.id), merged);
        } finally {
            if (inChain) {
                replica.ioLock().writeLock().unlock();
            }
        }
    }
}
