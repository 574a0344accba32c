package io.bighorn.dataplane.replica;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Turns a replica's layer tree into a rebuild source's, under the replica's drained I/O (see
 * {@link Replica#prepareRebuild}). New files first, one commit of {@code volume.json}, then the old
 * layers the new tree does not name are closed and deleted, so a crash leaves the old tree or the new.
 */
final class RebuildPlan {
    private final Replica replica;
    private final Map<String, SnapshotInfo> source = new LinkedHashMap<>();
    private final String headParent;

    RebuildPlan(Replica replica, List<SnapshotInfo> snapshots, String headParent) {
        this.replica = replica;
        for (SnapshotInfo s : snapshots) {
            if (Replica.HEAD_NAME.equals(s.name()) || source.put(s.name(), s) != null) {
                throw new IllegalArgumentException("bad rebuild source: snapshot name " + s.name() + " twice");
            }
        }
        for (SnapshotInfo s : snapshots) {
            if (s.parent() != null && !source.containsKey(s.parent())) {
                throw new IllegalArgumentException(
                        "bad rebuild source: snapshot " + s.name() + " has an unknown parent " + s.parent());
            }
        }
        if (headParent != null && !source.containsKey(headParent)) {
            throw new IllegalArgumentException("bad rebuild source: the head's parent " + headParent + " is unknown");
        }
        this.headParent = headParent;
    }

    void apply() throws IOException {
        VolumeMeta m = replica.meta();
        Layer oldHead = replica.head();
        ReplicaFiles files = replica.files();
        String seed = lowestMissingOnHeadChain();
        long next = m.nextLayerId();
        Map<String, Long> ids = new HashMap<>();
        List<Layer> created = new ArrayList<>();
        Layer newHead;
        try {
            for (SnapshotInfo s : source.values()) {
                LayerMeta lm = new LayerMeta(
                        s.name(),
                        s.created().truncatedTo(ChronoUnit.SECONDS).toString(),
                        s.userCreated(),
                        s.labels(),
                        s.removed());
                Layer existing = replica.find(s.name());
                if (existing != null) {
                    files.writeLayer(existing.id, lm);
                    existing.meta(lm);
                    ids.put(s.name(), existing.id);
                    continue;
                }
                long id = next++;
                Path image = files.image(id);
                if (s.name().equals(seed)) {
                    Files.createLink(image, files.image(oldHead.id));
                }
                NativeFile f = NativeFile.open(image, NativeFile.O_RDWR | NativeFile.O_CREAT);
                Layer l = new Layer(id, f, lm);
                created.add(l);
                replica.addLayer(l);
                f.truncate(m.size());
                files.writeLayer(id, lm);
                ids.put(s.name(), id);
            }
            long headId = next++;
            newHead = replica.createHead(headId);
            created.add(newHead);
            replica.addLayer(newHead);
            List<VolumeMeta.Link> links = new ArrayList<>();
            for (SnapshotInfo s : source.values()) {
                links.add(new VolumeMeta.Link(ids.get(s.name()), s.parent() == null ? 0 : ids.get(s.parent())));
            }
            links.add(new VolumeMeta.Link(headId, headParent == null ? 0 : ids.get(headParent)));
            replica.commit(m.withLayers(headId, next, links).withRebuilding(true));
        } catch (IOException e) {
            discardUnlessCommitted(created, e);
            throw NoSpace.classify(e, "preparing a rebuild");
        } catch (RuntimeException e) {
            discardUnlessCommitted(created, e);
            throw e;
        }
        replica.rebuildPrepared(newHead);
    }

    private void discardUnlessCommitted(List<Layer> created, Exception e) {
        if (!Replica.mayHaveCommitted(e)) {
            for (Layer l : created) {
                replica.removeLayer(l.id);
                replica.discard(l, l.id);
            }
        }
    }

    /** The lowest snapshot of the source's head chain this replica lacks: it starts from the old head. */
    private String lowestMissingOnHeadChain() {
        List<String> chain = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        for (String name = headParent; name != null; name = source.get(name).parent()) {
            if (!seen.add(name)) {
                throw new IllegalArgumentException("bad rebuild source: a cycle at snapshot " + name);
            }
            chain.addFirst(name);
        }
        for (String name : chain) {
            if (replica.find(name) == null) {
                return name;
            }
        }
        return null;
    }
}
