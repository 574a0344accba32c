package io.bighorn.backup;

import com.fasterxml.jackson.databind.JsonNode;
import io.bighorn.backup.store.BackupStore;
import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.HexFormat;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * Longhorn's backupstore locks, one file per holder in the volume's {@code locks/} directory, JSON {@code
 * {"Name","Type","Acquired"}}. Backup and restore share type 1, deletion is type 2; locks of one type
 * coexist, locks of different types exclude each other. To acquire: write the file, list the locks and
 * give up at once if an unexpired lock of the other type has priority (acquired first, then the earlier
 * server time, then the smaller name); then wait {@link #DEFAULT_SETTLE} (so a store with slow listings
 * shows the others) and check again. Longhorn checks before writing its file; checking just after it
 * also catches a lock written in between, so that once {@link #begin} returns, an operation of the
 * other type can only start after this one has ended or given up. There is no waiting for a lock: the
 * caller fails with {@link LockedException} and may retry. A held lock is rewritten every {@link #REFRESH}
 * and expires {@link #EXPIRY} after its last write by the store's clock, so a crashed holder blocks others
 * for at most that long.
 */
final class Locks {
    static final int BACKUP = 1;
    static final int RESTORE = 1;
    static final int DELETION = 2;
    static final Duration DEFAULT_SETTLE = Duration.ofSeconds(2);
    static final Duration REFRESH = Duration.ofSeconds(60);

    /** How long a new lock settles before the check, and how often a held one is rewritten. */
    record Timing(Duration settle, Duration refresh) {
        static final Timing DEFAULT = new Timing(DEFAULT_SETTLE, REFRESH);
    }

    static final Duration EXPIRY = Duration.ofSeconds(150);

    private static final ScheduledExecutorService REFRESHER = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "backup-lock-refresh");
        t.setDaemon(true);
        return t;
    });

    private Locks() {}

    /** Another operation holds the volume in a way that excludes this one. */
    static final class LockedException extends IOException {
        private static final long serialVersionUID = 1L;

        LockedException(String message) {
            super(message);
        }
    }

    /** A held lock; closing releases it. */
    static final class Held implements AutoCloseable {
        private final BackupStore store;
        private final String path;
        private final ScheduledFuture<?> refresh;

        private Held(BackupStore store, String path, byte[] json, Duration period) {
            this.store = store;
            this.path = path;
            this.refresh = REFRESHER.scheduleAtFixedRate(
                    () -> {
                        try {
                            store.write(path, json);
                        } catch (IOException | RuntimeException e) {
                            // the next refresh tries again; the operation's own writes fail if the store is gone
                        }
                    },
                    period.toMillis(),
                    period.toMillis(),
                    TimeUnit.MILLISECONDS);
        }

        @Override
        public void close() throws IOException {
            refresh.cancel(false);
            store.delete(path);
        }
    }

    static Held acquire(BackupStore store, String volume, int type, Timing timing) throws IOException {
        try (Pending p = begin(store, volume, type, timing)) {
            return p.confirm();
        }
    }

    /** Writes a lock file; {@link Pending#confirm} finishes acquiring it, closing first gives it up. */
    static Pending begin(BackupStore store, String volume, int type, Timing timing) throws IOException {
        String name =
                "lock-" + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextLong());
        String path = Layout.locksDir(volume) + "/" + name + Layout.LOCK_SUFFIX;
        store.write(path, json(name, type, false));
        Pending pending = new Pending(
                store,
                volume,
                type,
                name,
                path,
                System.nanoTime() + timing.settle().toNanos(),
                timing);
        try {
            pending.check();
            return pending;
        } catch (IOException | RuntimeException e) {
            pending.close();
            throw e;
        }
    }

    /** A lock file written, not yet checked against the others. */
    static final class Pending implements AutoCloseable {
        private final BackupStore store;
        private final String volume;
        private final int type;
        private final String name;
        private final String path;
        private final long settledAt;
        private final Timing timing;
        private boolean confirmed;

        private Pending(
                BackupStore store, String volume, int type, String name, String path, long settledAt, Timing timing) {
            this.timing = timing;
            this.store = store;
            this.volume = volume;
            this.type = type;
            this.name = name;
            this.path = path;
            this.settledAt = settledAt;
        }

        /**
         * Waits out the rest of the settle time (work can go on meanwhile), then acquires the lock or fails
         * with {@link LockedException}.
         */
        Held confirm() throws IOException {
            try {
                long left = settledAt - System.nanoTime();
                if (left > 0) {
                    Thread.sleep(Duration.ofNanos(left));
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while locking backup volume " + volume, e);
            }
            check();
            store.write(path, json(name, type, true));
            confirmed = true;
            return new Held(store, path, json(name, type, true), timing.refresh());
        }

        /** Fails with {@link LockedException} if a lock of the other type has priority over this one. */
        private void check() throws IOException {
            Instant mine = store.modified(path);
            for (String file : store.list(Layout.locksDir(volume))) {
                if (!file.endsWith(Layout.LOCK_SUFFIX) || file.equals(name + Layout.LOCK_SUFFIX)) {
                    continue;
                }
                String other = Layout.locksDir(volume) + "/" + file;
                JsonNode o;
                Instant at;
                try {
                    o = GoJson.parse(store.read(other), "lock " + file);
                    at = store.modified(other);
                } catch (IOException unreadable) {
                    continue; // gone meanwhile, half-written, or a foreign file: not a lock
                }
                int otherType = o.path("Type").asInt();
                if (otherType == type || at.plus(EXPIRY).isBefore(mine)) {
                    continue;
                }
                String otherName = GoJson.text(o, "Name");
                boolean first = o.path("Acquired").asBoolean(false)
                        || at.isBefore(mine)
                        || (at.equals(mine) && otherName.compareTo(name) < 0);
                if (first) {
                    throw new LockedException("backup volume " + volume + " is locked by " + what(otherType) + " ("
                            + otherName + ", since " + at + "): try again when it has finished");
                }
            }
        }

        @Override
        public void close() throws IOException {
            if (!confirmed) {
                store.delete(path);
            }
        }
    }

    private static String what(int type) {
        return type == DELETION ? "a deletion" : "a backup or restore";
    }

    private static byte[] json(String name, int type, boolean acquired) {
        return new GoJson()
                .string("Name", name)
                .number("Type", type)
                .bool("Acquired", acquired)
                .bytes();
    }
}
