package io.bighorn.backup;

import io.bighorn.backup.store.BackupStore;
import io.bighorn.backup.store.BackupTarget;
import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * A backup target holding backup volumes in Longhorn's layout: back up snapshots into it, list, inspect,
 * restore and delete what it holds. The block logic lives here and in {@link BackupJob} and {@link
 * RestoreJob}; the target is a {@link BackupStore} chosen by URL scheme.
 */
public final class Backupstore implements AutoCloseable {
    private final BackupStore store;
    private final Locks.Timing lockTiming;

    /** A store whose new locks settle for {@code lockSettle} (Longhorn: 2 s; tests: less). */
    public Backupstore(BackupStore store, Duration lockSettle) {
        this(store, new Locks.Timing(lockSettle, Locks.REFRESH));
    }

    Backupstore(BackupStore store, Locks.Timing lockTiming) {
        this.store = store;
        this.lockTiming = lockTiming;
    }

    /** Opens the target at {@code url} with S3 settings from {@code env} (see {@link BackupTarget#open}). */
    public static Backupstore open(String url, Map<String, String> env) {
        return new Backupstore(BackupTarget.open(url, env), Locks.Timing.DEFAULT);
    }

    public String url() {
        return store.url();
    }

    public BackupStore store() {
        return store;
    }

    /** Backs up {@code source}'s snapshot into backup volume {@code volume}. */
    public BackupResult backup(String volume, SnapshotSource source, BackupOptions options, Progress progress)
            throws IOException {
        return new BackupJob(store, volume, source, options, progress, lockTiming).run();
    }

    /** The backup volumes' names, sorted. */
    public List<String> volumes() throws IOException {
        List<String> out = new ArrayList<>();
        for (String a : store.list(Layout.VOLUMES)) {
            for (String b : store.list(Layout.VOLUMES + "/" + a)) {
                for (String v : store.list(Layout.VOLUMES + "/" + a + "/" + b)) {
                    if (Layout.validName(v)
                            && Layout.volumeDir(v).equals(Layout.VOLUMES + "/" + a + "/" + b + "/" + v)) {
                        out.add(v);
                    }
                }
            }
        }
        out.sort(null);
        return out;
    }

    /**
     * The cfg of every backup volume that has one, by name. A volume directory without a {@code volume.cfg}
     * belongs to a first backup that has not confirmed its lock yet (or died before it did; it stored
     * blocks at most) and is left out rather than failing the listing.
     */
    public List<VolumeConfig> volumeConfigs() throws IOException {
        List<VolumeConfig> out = new ArrayList<>();
        for (String v : volumes()) {
            try {
                out.add(volume(v));
            } catch (NoSuchFileException notYet) {
                // no backup of it is complete or even started as far as a reader can tell
            }
        }
        return out;
    }

    public VolumeConfig volume(String volume) throws IOException {
        String path = Layout.volumeCfg(Layout.checkName("volume", volume));
        try {
            return VolumeConfig.parse(store.read(path), path);
        } catch (NoSuchFileException e) {
            throw new NoSuchFileException("no backup volume " + volume + " at " + store.url());
        }
    }

    /** The volume's backups' names (complete or not), sorted. */
    public List<String> backupNames(String volume) throws IOException {
        List<String> out = new ArrayList<>();
        for (String f : store.list(Layout.backupsDir(Layout.checkName("volume", volume)))) {
            String b = Layout.backupOfFile(f);
            if (b != null) {
                out.add(b);
            }
        }
        return out;
    }

    /** The volume's backups, oldest snapshot first; complete or not. */
    public List<BackupConfig> backups(String volume) throws IOException {
        List<BackupConfig> out = new ArrayList<>();
        for (String b : backupNames(volume)) {
            out.add(backup(volume, b));
        }
        out.sort(Comparator.comparing(BackupConfig::snapshotCreatedAt).thenComparing(BackupConfig::createdTime));
        return out;
    }

    public BackupConfig backup(String volume, String backup) throws IOException {
        String path = Layout.backupCfg(Layout.checkName("volume", volume), Layout.checkName("backup", backup));
        try {
            return BackupConfig.parse(store.read(path), path);
        } catch (NoSuchFileException e) {
            throw new NoSuchFileException("no backup " + backup + " of volume " + volume + " at " + store.url());
        }
    }

    /**
     * Restores {@code backup} into {@code sink}; with {@code from} (the backup the sink holds), only the
     * blocks that differ.
     */
    public RestoreResult restore(
            String volume, String backup, String from, RestoreSink sink, int concurrency, Progress progress)
            throws IOException {
        try (Locks.Held lock = Locks.acquire(store, volume, Locks.RESTORE, lockTiming)) {
            VolumeConfig vol = volume(volume);
            BackupConfig target = backup(volume, backup);
            if (!target.complete()) {
                throw new CorruptBackupException(
                        "backup " + backup + " of volume " + volume + " is incomplete (in progress, or it failed)");
            }
            BackupConfig base = from == null ? null : backup(volume, from);
            Compression c = Compression.of(
                    target.compressionMethod().isEmpty() ? vol.compressionMethod() : target.compressionMethod());
            return new RestoreJob(store, target, base, sink, concurrency, progress).run(c);
        }
    }

    /**
     * Deletes one backup, then every block no remaining backup references, unless that is unsafe: a cfg
     * cannot be read, a backup may still be running, or the list of backups changed meanwhile.
     */
    public DeleteResult delete(String volume, String backup) throws IOException {
        String cfg = Layout.backupCfg(Layout.checkName("volume", volume), Layout.checkName("backup", backup));
        try (Locks.Held lock = Locks.acquire(store, volume, Locks.DELETION, lockTiming)) {
            if (!store.exists(cfg)) {
                throw new NoSuchFileException("no backup " + backup + " of volume " + volume + " at " + store.url());
            }
            Instant now = store.modified(cfg);
            store.delete(cfg);
            VolumeConfig vol = volume(volume);
            List<String> names = backupNames(volume);
            List<BackupConfig> left = new ArrayList<>();
            String skipped = null;
            for (String b : names) {
                try {
                    BackupConfig c = backup(volume, b);
                    String path = Layout.backupCfg(volume, b);
                    if (!c.complete() && store.modified(path).plus(Locks.EXPIRY).isAfter(now)) {
                        skipped = "backup " + b + " may be in progress";
                    }
                    left.add(c);
                } catch (IOException e) {
                    skipped = "backup " + b + " cannot be read (" + e.getMessage() + ")";
                }
            }
            if (vol.lastBackupName().equals(backup)) {
                BackupConfig newest = left.stream()
                        .filter(BackupConfig::complete)
                        .max(Comparator.comparing(BackupConfig::snapshotCreatedAt)
                                .thenComparing(BackupConfig::createdTime))
                        .orElse(null);
                vol = vol.withLastBackup(
                        newest == null ? "" : newest.name(),
                        newest == null ? "" : newest.snapshotCreatedAt(),
                        vol.blockCount(),
                        vol.size());
            }
            long removed = 0;
            long live = vol.blockCount();
            if (skipped == null) {
                Set<String> referenced = new HashSet<>();
                left.forEach(c -> c.blocks().forEach(b -> referenced.add(b.checksum())));
                List<String> files = store.listFiles(Layout.blocksDir(volume));
                if (!backupNames(volume).equals(names)) {
                    skipped = "the backups changed while blocks were counted";
                } else {
                    List<String> garbage = new ArrayList<>();
                    live = 0;
                    for (String f : files) {
                        String name = f.substring(f.lastIndexOf('/') + 1);
                        if (!name.endsWith(Layout.BLOCK_SUFFIX)) {
                            continue;
                        }
                        String checksum = name.substring(0, name.length() - Layout.BLOCK_SUFFIX.length());
                        if (referenced.contains(checksum)) {
                            live++;
                        } else {
                            garbage.add(Layout.blocksDir(volume) + "/" + f);
                        }
                    }
                    deleteAll(garbage);
                    removed = garbage.size();
                }
            }
            store.write(
                    Layout.volumeCfg(volume),
                    vol.withLastBackup(vol.lastBackupName(), vol.lastBackupAt(), live, vol.size())
                            .toJson());
            return new DeleteResult(backup, removed, live, skipped);
        }
    }

    private void deleteAll(List<String> paths) throws IOException {
        if (paths.isEmpty()) {
            return;
        }
        try (ExecutorService pool = Executors.newFixedThreadPool(8)) {
            List<Future<?>> fs = new ArrayList<>();
            for (String p : paths) {
                fs.add(pool.submit(() -> {
                    store.delete(p);
                    return null;
                }));
            }
            Tasks.awaitAll(fs);
        }
    }

    /** Deletes a whole backup volume: every backup and block of it. */
    public void deleteVolume(String volume) throws IOException {
        volume(volume);
        try (Locks.Held lock = Locks.acquire(store, volume, Locks.DELETION, lockTiming)) {
            store.delete(Layout.volumeCfg(volume));
            store.deleteAll(Layout.backupsDir(volume));
            store.deleteAll(Layout.blocksDir(volume));
        }
        store.deleteAll(Layout.volumeDir(volume));
    }

    @Override
    public void close() {
        store.close();
    }
}
