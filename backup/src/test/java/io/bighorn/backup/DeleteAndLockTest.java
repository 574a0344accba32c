package io.bighorn.backup;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.bighorn.backup.store.BackupTarget;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Deleting backups with garbage collection in every order, locks, and bad input. */
class DeleteAndLockTest {
    @TempDir
    Path tmp;

    private Backupstore target(String name) {
        return new Backupstore(BackupTarget.open("file://" + tmp.resolve(name), Map.of()), Duration.ZERO);
    }

    /** Three backups sharing some blocks; returns each backup's name and the volume's state at it. */
    private Map<String, byte[]> threeBackups(Backupstore bs, Path dir) throws IOException {
        Map<String, byte[]> states = new HashMap<>();
        try (TestVolume v = new TestVolume(dir, 16 << 20, 7)) {
            v.write(0, 8 << 20);
            for (int i = 1; i <= 3; i++) {
                if (i > 1) {
                    v.write((long) (i * 2) << 20, 2 << 20); // a new block
                    v.write(0, 4096); // and a changed one
                }
                byte[] state = v.snapshot("s" + i);
                v.backup(bs, "s" + i, BackupOptions.defaults().withName("backup-" + i));
                states.put("backup-" + i, state);
            }
        }
        return states;
    }

    private static Set<String> storedBlocks(Path target) throws IOException {
        Path blocks = target.resolve(Layout.blocksDir("vol1"));
        Set<String> out = new TreeSet<>();
        if (Files.isDirectory(blocks)) {
            try (var walk = Files.walk(blocks)) {
                walk.filter(Files::isRegularFile)
                        .forEach(p -> out.add(p.getFileName().toString().replace(".blk", "")));
            }
        }
        return out;
    }

    @Test
    void deletingBackupsInEveryOrderLeavesExactlyTheReferencedBlocks() throws IOException {
        List<List<String>> orders = permutations(List.of("backup-1", "backup-2", "backup-3"));
        assertThat(orders).hasSize(6);
        int n = 0;
        for (List<String> order : orders) {
            String name = "t" + n++;
            try (Backupstore bs = target(name)) {
                Map<String, byte[]> states = threeBackups(bs, tmp.resolve("src-" + name));
                List<String> left = new ArrayList<>(List.of("backup-1", "backup-2", "backup-3"));
                for (String victim : order) {
                    DeleteResult d = bs.delete("vol1", victim);
                    assertThat(d.gcSkipped()).isNull();
                    left.remove(victim);
                    Set<String> referenced = new TreeSet<>();
                    for (String b : left) {
                        bs.backup("vol1", b).blocks().forEach(m -> referenced.add(m.checksum()));
                    }
                    assertThat(storedBlocks(tmp.resolve(name)))
                            .as(order + " after " + victim)
                            .isEqualTo(referenced);
                    assertThat(bs.volume("vol1").blockCount()).isEqualTo(referenced.size());
                    assertThat(bs.backupNames("vol1")).containsExactlyInAnyOrderElementsOf(left);
                    String newest = left.isEmpty() ? "" : left.getLast();
                    assertThat(bs.volume("vol1").lastBackupName()).isEqualTo(newest);
                    for (String b : left) {
                        Path d2 = tmp.resolve("restore-" + name + "-" + victim + "-" + b);
                        DirectoryRestore.restore(bs, "vol1", b, List.of(d2), 2, Progress.NONE);
                        TestVolume.assertReads(d2, states.get(b));
                    }
                }
                assertThat(storedBlocks(tmp.resolve(name))).isEmpty();
                bs.deleteVolume("vol1");
                assertThat(bs.backupNames("vol1")).isEmpty();
            }
        }
    }

    private static List<List<String>> permutations(List<String> items) {
        if (items.isEmpty()) {
            return List.of(List.of());
        }
        List<List<String>> out = new ArrayList<>();
        for (String first : items) {
            List<String> rest = new ArrayList<>(items);
            rest.remove(first);
            for (List<String> p : permutations(rest)) {
                List<String> l = new ArrayList<>();
                l.add(first);
                l.addAll(p);
                out.add(l);
            }
        }
        return out;
    }

    @Test
    void garbageCollectionIsSkippedWhileABackupMayBeRunning() throws IOException {
        try (Backupstore bs = target("t")) {
            threeBackups(bs, tmp.resolve("src"));
            Set<String> before = storedBlocks(tmp.resolve("t"));
            // a placeholder written just now: a backup in progress
            Files.writeString(
                    tmp.resolve("t").resolve(Layout.backupCfg("vol1", "backup-9")),
                    "{\"Name\":\"backup-9\",\"VolumeName\":\"vol1\",\"CreatedTime\":\"\"}");
            DeleteResult d = bs.delete("vol1", "backup-1");
            assertThat(d.gcSkipped()).contains("backup-9").contains("in progress");
            assertThat(storedBlocks(tmp.resolve("t"))).isEqualTo(before);
            // the same placeholder, left by a backup that crashed long ago, does not stop it
            Files.setLastModifiedTime(
                    tmp.resolve("t").resolve(Layout.backupCfg("vol1", "backup-9")),
                    FileTime.from(Instant.now().minus(Duration.ofHours(1))));
            assertThat(bs.delete("vol1", "backup-2").gcSkipped()).isNull();
            assertThat(storedBlocks(tmp.resolve("t"))).hasSizeLessThan(before.size());
            DirectoryRestore.restore(bs, "vol1", "backup-3", List.of(tmp.resolve("r")), 2, Progress.NONE);
        }
    }

    @Test
    void aDeletionLockExcludesBackupsAndAnExpiredOneDoesNot() throws IOException {
        try (Backupstore bs = target("t");
                TestVolume v = new TestVolume(tmp.resolve("src"), 4 << 20, 8)) {
            v.write(0, 4096);
            v.snapshot("s1");
            try (SnapshotSource src = v.source("s1")) {
                bs.backup("vol1", src, BackupOptions.defaults(), Progress.NONE);
                Path lock = tmp.resolve("t").resolve(Layout.locksDir("vol1")).resolve("lock-0123456789abcdef.lck");
                Files.writeString(lock, "{\"Name\":\"lock-0123456789abcdef\",\"Type\":2,\"Acquired\":true}");
                assertThatThrownBy(() -> bs.backup("vol1", src, BackupOptions.defaults(), Progress.NONE))
                        .isInstanceOf(Locks.LockedException.class)
                        .hasMessageContaining("locked by a deletion");
                // backups and restores share: a held backup lock does not stop a restore
                Files.writeString(lock, "{\"Name\":\"lock-0123456789abcdef\",\"Type\":1,\"Acquired\":true}");
                String name = bs.backups("vol1").getFirst().name();
                DirectoryRestore.restore(bs, "vol1", name, List.of(tmp.resolve("r")), 2, Progress.NONE);
                assertThatThrownBy(() -> bs.delete("vol1", name))
                        .isInstanceOf(Locks.LockedException.class)
                        .hasMessageContaining("locked by a backup or restore");
                assertThat(bs.backupNames("vol1")).containsExactly(name); // nothing was deleted
                Files.setLastModifiedTime(lock, FileTime.from(Instant.now().minus(Duration.ofMinutes(3))));
                bs.delete("vol1", name); // the holder crashed long ago: its lock has expired
                // our own locks are gone once released
                assertThat(tmp.resolve("t")
                                .resolve(Layout.locksDir("vol1"))
                                .toFile()
                                .list())
                        .containsExactly("lock-0123456789abcdef.lck");
            }
        }
    }

    @Test
    void aBackupLockedOutByADeletionThatWasFirstWritesNothing() throws IOException {
        try (Backupstore bs = new Backupstore(
                        BackupTarget.open("file://" + tmp.resolve("t"), Map.of()), Duration.ofMillis(300));
                TestVolume v = new TestVolume(tmp.resolve("src"), 8 << 20, 10)) {
            v.write(0, 8 << 20);
            v.snapshot("s1");
            Path locks = tmp.resolve("t").resolve(Layout.locksDir("vol1"));
            Files.createDirectories(locks);
            Files.writeString(
                    locks.resolve("lock-00000000000000aa.lck"),
                    "{\"Name\":\"lock-00000000000000aa\",\"Type\":2,\"Acquired\":true}");
            // seen right after the backup's own lock is written: nothing else is written, not even a block
            assertThatThrownBy(() -> v.backup(bs, "s1", BackupOptions.defaults()))
                    .isInstanceOf(Locks.LockedException.class);
            assertThat(filesUnder(tmp.resolve("t"))).containsExactly("lock-00000000000000aa.lck");
            Files.delete(locks.resolve("lock-00000000000000aa.lck"));
            BackupResult r = v.backup(bs, "s1", BackupOptions.defaults());
            assertThat(r.blocksUploaded()).isEqualTo(4);
        }
    }

    @Test
    void aBackupLockedOutWhileItsLockSettlesLeavesOnlyUnreferencedBlocks() throws IOException {
        try (Backupstore bs = new Backupstore(
                        BackupTarget.open("file://" + tmp.resolve("t"), Map.of()), Duration.ofSeconds(1));
                TestVolume v = new TestVolume(tmp.resolve("src"), 8 << 20, 11)) {
            v.write(0, 8 << 20);
            byte[] state = v.snapshot("s1");
            Path lock = tmp.resolve("t").resolve(Layout.locksDir("vol1")).resolve("lock-00000000000000bb.lck");
            // a deletion that takes its lock while the backup's settles, and wins (it was acquired first)
            try (SnapshotSource src = new DelegatingSource(v.source("s1")) {
                @Override
                public Read read(long offset, byte[] dst, String since) throws IOException {
                    if (!Files.exists(lock)) {
                        Files.writeString(lock, "{\"Name\":\"lock-00000000000000bb\",\"Type\":2,\"Acquired\":true}");
                    }
                    return super.read(offset, dst, since);
                }
            }) {
                assertThatThrownBy(() -> bs.backup("vol1", src, BackupOptions.defaults(), Progress.NONE))
                        .isInstanceOf(Locks.LockedException.class)
                        .hasMessageContaining("locked by a deletion");
            }
            // blocks may have been stored meanwhile, but no cfg names them and the lock is given up
            Set<String> files = filesUnder(tmp.resolve("t"));
            assertThat(files).contains("lock-00000000000000bb.lck").noneMatch(f -> f.endsWith(".cfg"));
            assertThat(files.stream().filter(f -> f.endsWith(".lck"))).hasSize(1);
            assertThat(bs.backupNames("vol1")).isEmpty();
            // its directory exists (locks, blocks), but a listing of backup volumes leaves it out, unbroken
            assertThat(bs.volumes()).containsExactly("vol1");
            assertThat(bs.volumeConfigs()).isEmpty();
            Files.delete(lock);
            BackupResult r = v.backup(bs, "s1", BackupOptions.defaults().withName("backup-1"));
            assertThat(r.blocksChanged()).isEqualTo(4);
            DirectoryRestore.restore(bs, "vol1", "backup-1", List.of(tmp.resolve("r")), 2, Progress.NONE);
            TestVolume.assertReads(tmp.resolve("r"), state);
        }
    }

    private static Set<String> filesUnder(Path dir) throws IOException {
        try (var files = Files.walk(dir)) {
            return files.filter(Files::isRegularFile)
                    .map(p -> p.getFileName().toString())
                    .collect(java.util.stream.Collectors.toCollection(TreeSet::new));
        }
    }

    @Test
    void aHeldLockIsRewrittenSoItDoesNotExpireUnderALongBackup() throws Exception {
        try (Backupstore bs = target("t")) {
            Locks.Timing fast = new Locks.Timing(Duration.ZERO, Duration.ofMillis(100));
            try (Locks.Held held = Locks.acquire(bs.store(), "vol1", Locks.BACKUP, fast)) {
                Path dir = tmp.resolve("t").resolve(Layout.locksDir("vol1"));
                Path lock;
                try (var files = Files.list(dir)) {
                    lock = files.findFirst().orElseThrow();
                }
                Files.setLastModifiedTime(lock, FileTime.from(Instant.now().minus(Duration.ofHours(1))));
                org.awaitility.Awaitility.await()
                        .atMost(Duration.ofSeconds(30))
                        .until(() -> Files.getLastModifiedTime(lock)
                                .toInstant()
                                .isAfter(Instant.now().minus(Duration.ofMinutes(1))));
                assertThat(Files.readString(lock)).contains("\"Type\":1").contains("\"Acquired\":true");
            }
        }
    }

    @Test
    void badInputGetsAClearErrorAndChangesNothing() throws IOException {
        assertThatThrownBy(() -> Backupstore.open("ftp://host/x", Map.of()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("unsupported scheme 'ftp'");
        assertThatThrownBy(() -> Backupstore.open("file:relative", Map.of()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("absolute path");
        assertThatThrownBy(() -> BackupUrl.parse("file:///x")).hasMessageContaining("names no backup");
        assertThatThrownBy(() -> BackupUrl.parse("file:///x?backup=b1&volume=../etc"))
                .hasMessageContaining("invalid volume name");
        try (Backupstore bs = target("t");
                TestVolume v = new TestVolume(tmp.resolve("src"), 4 << 20, 9)) {
            v.write(0, 4096);
            v.snapshot("s1");
            try (SnapshotSource src = v.source("s1")) {
                bs.backup("vol1", src, BackupOptions.defaults().withName("backup-1"), Progress.NONE);
                Path cfg = tmp.resolve("t").resolve(Layout.volumeCfg("vol1"));
                Files.writeString(cfg, "{\"Name\":\"vol1\",\"Size\":");
                byte[] corrupt = Files.readAllBytes(cfg);
                assertThatThrownBy(() -> bs.backup("vol1", src, BackupOptions.defaults(), Progress.NONE))
                        .isInstanceOf(IOException.class)
                        .hasMessageContaining("volume.cfg is not valid JSON");
                assertThat(Files.readAllBytes(cfg)).isEqualTo(corrupt); // not overwritten
                assertThat(bs.backupNames("vol1")).containsExactly("backup-1");
                Path b1 = tmp.resolve("t").resolve(Layout.backupCfg("vol1", "backup-1"));
                Files.writeString(b1, "[1,2]");
                assertThatThrownBy(() -> bs.backup("vol1", "backup-1"))
                        .hasMessageContaining("backup_backup-1.cfg is not a JSON object");
                assertThatThrownBy(() -> bs.backup("vol1", "nope1")).hasMessageContaining("no backup nope1");
                assertThatThrownBy(() -> bs.volume("other")).hasMessageContaining("no backup volume other");
                assertThatThrownBy(() ->
                                bs.backup("vol1", src, BackupOptions.defaults().withBlockSize(3), Progress.NONE))
                        .hasMessageContaining("2Mi or 16Mi");
            }
        }
    }
}
