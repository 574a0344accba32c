package io.bighorn.backup;

import io.bighorn.dataplane.replica.Replica;
import io.bighorn.dataplane.replica.SnapshotInfo;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Restores a backup into the directories of a new volume's replicas, which {@code bighorn replica --dir}
 * then serves. The replicas are written under {@code <dir>.restoring} and renamed into place only when every
 * block is in, verified, and durable, so a failed or interrupted restore never leaves a directory that
 * looks like a usable replica. The restored data sits in a snapshot named after the backed-up one and
 * labelled with the backup, under an empty head.
 *
 * <p>Restoring into directories that hold an earlier restore of the same backup volume (a standby
 * volume) is incremental: only the blocks that differ are fetched, and blocks the newer backup dropped are
 * zeroed. The replicas must not be in use meanwhile.
 */
public final class DirectoryRestore {
    public static final String LABEL_BACKUP = "bighorn.io/backup";
    public static final String LABEL_BACKUP_VOLUME = "bighorn.io/backup-volume";
    private static final String WORK = ".restoring";

    private DirectoryRestore() {}

    public static RestoreResult restore(
            Backupstore store, String volume, String backup, List<Path> dirs, int concurrency, Progress progress)
            throws IOException {
        if (dirs.isEmpty()) {
            throw new IllegalArgumentException("name at least one replica directory to restore into");
        }
        if (new HashSet<>(dirs.stream().map(p -> p.toAbsolutePath().normalize()).toList()).size() != dirs.size()) {
            throw new IllegalArgumentException("the replica directories must differ: " + dirs);
        }
        VolumeConfig vol = store.volume(volume);
        BackupConfig target = store.backup(volume, backup);
        if (!target.complete()) {
            throw new CorruptBackupException(
                    "backup " + backup + " of volume " + volume + " is incomplete (in progress, or it failed)");
        }
        // What each directory holds now; an incremental restore needs every one to hold the same backup.
        Set<String> bases = new HashSet<>();
        List<Path> work = new ArrayList<>();
        for (Path dir : dirs) {
            Path w = dir.resolveSibling(dir.getFileName() + WORK);
            if (Files.exists(dir) && Files.exists(w)) {
                throw new IOException(dir + " and " + w + " both exist: remove the one that is not wanted");
            }
            Path existing = Files.exists(dir) ? dir : Files.exists(w) ? w : null;
            bases.add(existing == null ? "" : restoredBackup(existing, volume));
            work.add(w);
        }
        String from = bases.size() == 1 ? bases.iterator().next() : "";
        if (!from.isEmpty() && !store.backupNames(volume).contains(from)) {
            from = ""; // the backup it came from is gone: restore in full
        }
        for (int i = 0; i < dirs.size(); i++) {
            if (Files.exists(dirs.get(i)) && from.isEmpty()) {
                throw new IOException(dirs.get(i) + " exists and does not hold a restore of backup volume " + volume
                        + ": restore into a new directory");
            }
            if (Files.exists(dirs.get(i))) {
                try (Replica inUse = Replica.open(dirs.get(i))) {
                    // opened for writing: no replica process holds it, so it may move
                } catch (IOException e) {
                    throw new IOException(
                            "cannot restore into " + dirs.get(i) + ": " + e.getMessage()
                                    + " (stop the replica serving it first)",
                            e);
                }
                Files.move(dirs.get(i), work.get(i), StandardCopyOption.ATOMIC_MOVE);
            } else if (from.isEmpty()) {
                deleteTree(work.get(i));
            }
        }
        long size = vol.size();
        List<Replica> replicas = new ArrayList<>();
        try {
            for (Path w : work) {
                Replica r = from.isEmpty() ? Replica.create(w, size) : Replica.open(w);
                replicas.add(r);
                if (r.size() < size) {
                    r.expand(size);
                }
            }
            RestoreResult result = store.restore(
                    volume, backup, from.isEmpty() ? null : from, new ReplicaSink(replicas), concurrency, progress);
            for (Replica r : replicas) {
                String name = snapshotName(r, target.snapshotName());
                r.snapshot(name, true, Map.of(LABEL_BACKUP, backup, LABEL_BACKUP_VOLUME, volume));
                r.flush();
            }
            closeAll(replicas);
            replicas.clear();
            for (int i = 0; i < dirs.size(); i++) {
                Files.move(work.get(i), dirs.get(i), StandardCopyOption.ATOMIC_MOVE);
                syncDirectory(dirs.get(i).toAbsolutePath().getParent());
            }
            return result;
        } finally {
            closeAll(replicas);
        }
    }

    /** The backup that {@code dir}'s newest snapshot was restored from, or "" if it holds none of {@code volume}. */
    private static String restoredBackup(Path dir, String volume) {
        try (Replica r = Replica.open(dir, true, java.time.Clock.systemUTC())) {
            SnapshotInfo newest = r.snapshots().stream()
                    .filter(s -> !s.removed())
                    .filter(s -> s.children().contains(Replica.HEAD_NAME))
                    .findFirst()
                    .orElse(null);
            if (newest == null || !volume.equals(newest.labels().get(LABEL_BACKUP_VOLUME))) {
                return "";
            }
            return newest.labels().getOrDefault(LABEL_BACKUP, "");
        } catch (IOException | RuntimeException e) {
            return "";
        }
    }

    private static String snapshotName(Replica r, String wanted) throws IOException {
        Set<String> taken = new HashSet<>();
        r.snapshots().forEach(s -> taken.add(s.name()));
        String name = wanted.isEmpty() ? "restored" : wanted;
        for (int i = 2; taken.contains(name); i++) {
            name = (wanted.isEmpty() ? "restored" : wanted) + "-" + i;
        }
        return name;
    }

    private static void closeAll(List<Replica> replicas) {
        for (Replica r : replicas) {
            try {
                r.close();
            } catch (IOException | RuntimeException ignored) {
                // closing after a failure: the first error is the one reported
            }
        }
    }

    private static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(p)) {
            for (Path q : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(q);
            }
        }
    }

    private static void syncDirectory(Path dir) throws IOException {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        }
    }

    /** Writes to every replica. */
    private record ReplicaSink(List<Replica> replicas) implements RestoreSink {
        @Override
        public long size() {
            return replicas.getFirst().size();
        }

        @Override
        public void write(long offset, byte[] data, int length) throws IOException {
            for (Replica r : replicas) {
                r.write(r.epoch(), offset, ByteBuffer.wrap(data, 0, length));
            }
        }

        @Override
        public void zero(long offset, long length) throws IOException {
            for (Replica r : replicas) {
                r.writeZeroes(r.epoch(), offset, length);
            }
        }
    }
}
