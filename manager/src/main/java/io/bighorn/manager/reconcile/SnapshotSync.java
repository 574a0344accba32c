package io.bighorn.manager.reconcile;

import io.bighorn.manager.model.Kind;
import io.bighorn.manager.model.Meta;
import io.bighorn.manager.model.Snapshot;
import io.bighorn.manager.store.Store;
import io.bighorn.manager.store.StoreException;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Keeps a volume's Snapshot objects equal to its engine's chain: each snapshot the engine lists has an
 * object with its current status, and an object whose snapshot the engine no longer has is removed.
 * Writes nothing when nothing changed, so running it on every pass is cheap.
 */
public final class SnapshotSync {
    private final Store store;

    public SnapshotSync(Store store) {
        this.store = store;
    }

    /** Mirrors the engine's list of the volume's snapshots. */
    public void sync(String volume, List<io.bighorn.control.v1.Snapshot> chain) {
        Set<String> seen = new HashSet<>();
        for (io.bighorn.control.v1.Snapshot s : chain) {
            String name = Snapshot.objectName(volume, s.getName());
            seen.add(name);
            Snapshot.Status status = new Snapshot.Status(
                    s.getParent(),
                    s.getChildrenList(),
                    s.getCreated(),
                    s.getAllocatedBytes(),
                    s.getRemoved(),
                    s.getUserCreated(),
                    s.getLabelsMap());
            if (store.get(Kind.SNAPSHOT, name).isEmpty()) {
                try {
                    store.create(
                            Kind.SNAPSHOT,
                            new Snapshot(Meta.named(name), new Snapshot.Spec(volume, s.getName()), status));
                    continue;
                } catch (StoreException.AlreadyExists raced) {
                    // another pass created it: update it below
                }
            }
            Mutations.mutate(store, Kind.SNAPSHOT, name, x -> x.withStatus(status));
        }
        for (Snapshot old : of(volume)) {
            if (!seen.contains(old.name())) {
                store.delete(Kind.SNAPSHOT, old.name());
            }
        }
    }

    /** The volume's Snapshot objects, oldest first. */
    public List<Snapshot> of(String volume) {
        return store.list(Kind.SNAPSHOT).stream()
                .filter(s -> s.spec().volume().equals(volume))
                .sorted(java.util.Comparator.comparing(
                                (Snapshot s) -> s.status().created())
                        .thenComparing(Snapshot::name))
                .toList();
    }

    /** Removes every Snapshot object of a volume being deleted. */
    public void removeAll(String volume) {
        of(volume).forEach(s -> store.delete(Kind.SNAPSHOT, s.name()));
    }
}
