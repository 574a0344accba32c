package io.bighorn.backup;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.bighorn.backup.store.BackupTarget;
import io.bighorn.dataplane.replica.Replica;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Backups of real replicas to a directory target, and their restores, checked against a model. */
class BackupRestoreTest {
    @TempDir
    Path tmp;

    private Backupstore target() {
        return new Backupstore(BackupTarget.open("file://" + tmp.resolve("target"), Map.of()), Duration.ZERO);
    }

    @Test
    void aOneGibVolumeOfDataZerosAndHolesRoundTrips() throws IOException {
        int size = 1 << 30;
        try (TestVolume v = new TestVolume(tmp.resolve("src"), size, 1);
                Backupstore bs = target()) {
            v.write(0, 96 << 20); // a run of data
            v.scatter(24 << 20, 4096, 64 << 10);
            v.writeZeros(200 << 20, 64 << 20); // written zeros: stored, as one deduplicated block
            v.write((512L << 20) + 4096 * 3, 4096); // a lone 4 KiB write in an otherwise empty 2 MiB block
            // the rest: holes
            byte[] expected = v.snapshot("s1");
            AtomicLong last = new AtomicLong();
            BackupResult r;
            try (SnapshotSource src = v.source("s1")) {
                r = bs.backup("vol1", src, BackupOptions.defaults(), (d, t) -> last.set(d));
            }
            assertThat(last.get()).isEqualTo(size);
            assertThat(r.incremental()).isFalse();
            assertThat(r.config().complete()).isTrue();
            assertThat(r.url()).endsWith("?backup=" + r.config().name() + "&volume=vol1");
            // 96 MiB of data is 48 blocks; the zeros 32 mappings of one stored block
            assertThat(r.config().blocks()).hasSizeGreaterThanOrEqualTo(48 + 32 + 1);
            assertThat(r.config().blocks().size()).isLessThan(size >> 21);
            long zeroBlocks = r.config().blocks().stream()
                    .filter(b -> b.offset() >= 200 << 20 && b.offset() < 264 << 20)
                    .map(BackupConfig.BlockMapping::checksum)
                    .distinct()
                    .count();
            assertThat(zeroBlocks).isEqualTo(1);
            assertThat(r.blocksUploaded()).isEqualTo(r.config().blocks().size() - 31);

            Path d1 = tmp.resolve("r1");
            Path d2 = tmp.resolve("r2");
            RestoreResult rr =
                    DirectoryRestore.restore(bs, "vol1", r.config().name(), List.of(d1, d2), 4, Progress.NONE);
            assertThat(rr.blocksWritten()).isEqualTo(r.config().blocks().size());
            TestVolume.assertReads(d1, expected);
            TestVolume.assertReads(d2, expected);
            assertThat(tmp.resolve("r1.restoring")).doesNotExist();
            try (Replica restored = Replica.open(d1)) {
                assertThat(restored.snapshots()).anySatisfy(s -> {
                    assertThat(s.name()).isEqualTo("s1");
                    assertThat(s.labels())
                            .containsEntry(
                                    DirectoryRestore.LABEL_BACKUP, r.config().name());
                });
                // holes stay holes: only the stored blocks are allocated
                long allocated = restored.info().layers().stream()
                        .mapToLong(io.bighorn.dataplane.replica.ReplicaInfo.LayerInfo::allocatedBytes)
                        .sum();
                assertThat(allocated)
                        .isLessThanOrEqualTo((long) r.config().blocks().size() << 21);
            }
        }
    }

    @Test
    void theNextBackupUploadsOnlyTheChangedBlocksAndEveryBackupRestores() throws IOException {
        int size = 256 << 20;
        try (TestVolume v = new TestVolume(tmp.resolve("src"), size, 2);
                Backupstore bs = target()) {
            v.write(0, size / 2);
            List<byte[]> states = new ArrayList<>();
            List<String> names = new ArrayList<>();
            List<BackupResult> results = new ArrayList<>();
            states.add(v.snapshot("s1"));
            for (int i = 0; i < 3; i++) {
                String snap = "s" + (i + 1);
                if (i > 0) {
                    BitSet touched = v.scatter(size / 20, 64 << 10, 1 << 20); // 5 % of the volume
                    states.add(v.snapshot(snap));
                    try (SnapshotSource src = v.source(snap)) {
                        BackupResult r = bs.backup("vol1", src, BackupOptions.defaults(), Progress.NONE);
                        assertThat(r.incremental()).isTrue();
                        assertThat(r.base()).isEqualTo(names.getLast());
                        assertThat(r.blocksChanged()).isEqualTo(touched.cardinality());
                        assertThat(r.blocksUploaded()).isEqualTo(touched.cardinality());
                        assertThat(r.config().isIncremental()).isTrue();
                        assertThat(r.config().parameters()).containsEntry("backup-mode", "incremental");
                        results.add(r);
                    }
                } else {
                    try (SnapshotSource src = v.source(snap)) {
                        results.add(bs.backup("vol1", src, BackupOptions.defaults(), Progress.NONE));
                    }
                }
                names.add(results.getLast().config().name());
            }
            assertThat(bs.volume("vol1").lastBackupName()).isEqualTo(names.getLast());
            assertThat(bs.backups("vol1")).extracting(BackupConfig::name).containsExactlyElementsOf(names);
            for (int i = 0; i < names.size(); i++) {
                Path d = tmp.resolve("full-" + i);
                DirectoryRestore.restore(bs, "vol1", names.get(i), List.of(d), 4, Progress.NONE);
                TestVolume.assertReads(d, states.get(i));
            }
            // a standby volume: restored from the first backup, brought up to the third
            Path standby = tmp.resolve("standby");
            DirectoryRestore.restore(bs, "vol1", names.get(0), List.of(standby), 4, Progress.NONE);
            RestoreResult inc = DirectoryRestore.restore(bs, "vol1", names.get(2), List.of(standby), 4, Progress.NONE);
            assertThat(inc.incrementalFrom()).isEqualTo(names.get(0));
            long differing =
                    differingBlocks(results.get(0).config(), results.get(2).config());
            assertThat(inc.blocksWritten()).isEqualTo(differing);
            assertThat(differing).isLessThan(size >> 21);
            TestVolume.assertReads(standby, states.get(2));
            // a standby directory in use by a replica is left alone
            try (io.bighorn.dataplane.replica.Replica serving = io.bighorn.dataplane.replica.Replica.open(standby)) {
                assertThatThrownBy(() ->
                                DirectoryRestore.restore(bs, "vol1", names.get(1), List.of(standby), 4, Progress.NONE))
                        .isInstanceOf(IOException.class)
                        .hasMessageContaining("stop the replica serving it first");
                assertThat(serving.size()).isEqualTo(size);
            }
            TestVolume.assertReads(standby, states.get(2));
        }
    }

    private static long differingBlocks(BackupConfig a, BackupConfig b) {
        Map<Long, String> old = new java.util.HashMap<>();
        a.blocks().forEach(m -> old.put(m.offset(), m.checksum()));
        return b.blocks().stream()
                .filter(m -> !m.checksum().equals(old.get(m.offset())))
                .count();
    }

    @Test
    void aFullBackupIsTakenWhenAskedOrWhenTheLastSnapshotLeftTheChain() throws IOException {
        try (TestVolume v = new TestVolume(tmp.resolve("src"), 32 << 20, 3);
                Backupstore bs = target()) {
            v.write(0, 8 << 20);
            v.snapshot("s1");
            v.backup(bs, "s1", BackupOptions.defaults());
            v.write(0, 4096);
            v.snapshot("s2");
            try (SnapshotSource src = v.source("s2")) {
                BackupResult full =
                        bs.backup("vol1", src, BackupOptions.defaults().withFull(true), Progress.NONE);
                assertThat(full.incremental()).isFalse();
                assertThat(full.config().parameters()).containsEntry("backup-mode", "full");
                // every block is re-uploaded, the unchanged ones over their old copies
                assertThat(full.blocksUploaded()).isEqualTo(4);
                assertThat(full.config().reUploadedDataSize()).isPositive();
            }
            v.write(4 << 20, 4096);
            v.snapshot("s3");
            v.replica.deleteSnapshot("s2");
            v.replica.purge();
            try (SnapshotSource src = v.source("s3")) {
                BackupResult r = bs.backup("vol1", src, BackupOptions.defaults(), Progress.NONE);
                assertThat(r.incremental()).isFalse(); // s2 is gone from the chain
                assertThat(r.blocksChanged()).isEqualTo(4);
                assertThat(r.blocksUploaded()).isEqualTo(1); // the rest deduplicated against the target
            }
        }
    }

    @Test
    void aSnapshotReadsTheSameAfterTheHeadIsZeroedTrimmedOrRevertedAway() throws IOException {
        try (TestVolume v = new TestVolume(tmp.resolve("src"), 16 << 20, 13);
                Backupstore bs = target()) {
            v.write(0, 4 << 20);
            byte[] s1 = v.snapshot("s1");
            v.write(4 << 20, 4 << 20);
            v.write(12 << 20, 4096);
            byte[] s2 = v.snapshot("s2");
            // the head zeroes and trims over everything: the snapshots must not change
            v.replica.writeZeroes(v.replica.epoch(), 0, 8 << 20);
            v.replica.trim(v.replica.epoch(), 8 << 20, 8 << 20);
            BackupResult b2 = v.backup(bs, "s2", BackupOptions.defaults());
            Path d = tmp.resolve("a");
            DirectoryRestore.restore(bs, "vol1", b2.config().name(), List.of(d), 2, Progress.NONE);
            TestVolume.assertReads(d, s2);
            // s2 on a side branch, out of the head's chain
            v.replica.revert("s1");
            v.write(0, 4096);
            try (SnapshotSource src = v.source("s2")) {
                BackupResult r = bs.backup("vol2", src, BackupOptions.defaults(), Progress.NONE);
                Path e = tmp.resolve("b");
                DirectoryRestore.restore(bs, "vol2", r.config().name(), List.of(e), 2, Progress.NONE);
                TestVolume.assertReads(e, s2);
            }
            try (SnapshotSource src = v.source("s1")) {
                BackupResult r = bs.backup("vol3", src, BackupOptions.defaults(), Progress.NONE);
                Path e = tmp.resolve("c");
                DirectoryRestore.restore(bs, "vol3", r.config().name(), List.of(e), 2, Progress.NONE);
                TestVolume.assertReads(e, s1);
            }
        }
    }

    @Test
    void aCrashedBackupIsNeitherRestorableNorABaseAndItsBlocksAreReused() throws IOException {
        try (TestVolume v = new TestVolume(tmp.resolve("src"), 64 << 20, 4);
                Backupstore bs = target()) {
            v.write(0, 64 << 20);
            v.snapshot("s1");
            try (SnapshotSource src = v.source("s1")) {
                SnapshotSource failing = new FailingSource(src, 20 << 20);
                assertThatThrownBy(() -> bs.backup(
                                "vol1",
                                failing,
                                BackupOptions.defaults().withName("backup-a").withConcurrency(1),
                                Progress.NONE))
                        .isInstanceOf(IOException.class)
                        .hasMessageContaining("injected");
            }
            BackupConfig crashed = bs.backup("vol1", "backup-a");
            assertThat(crashed.complete()).isFalse();
            assertThat(bs.volume("vol1").lastBackupName()).isEmpty();
            assertThatThrownBy(() -> DirectoryRestore.restore(
                            bs, "vol1", "backup-a", List.of(tmp.resolve("x")), 2, Progress.NONE))
                    .isInstanceOf(CorruptBackupException.class)
                    .hasMessageContaining("incomplete");
            assertThat(tmp.resolve("x")).doesNotExist();
            try (SnapshotSource src = v.source("s1")) {
                BackupResult r = bs.backup("vol1", src, BackupOptions.defaults().withName("backup-a"), Progress.NONE);
                assertThat(r.incremental()).isFalse();
                assertThat(r.blocksChanged()).isEqualTo(32);
                assertThat(r.blocksUploaded()).isEqualTo(32 - 10); // the 10 blocks before the crash were kept
            }
            assertThat(bs.backup("vol1", "backup-a").complete()).isTrue();
        }
    }

    @Test
    void aCorruptOrMissingBlockFailsTheRestoreByNameAndLeavesNoReplica() throws IOException {
        try (TestVolume v = new TestVolume(tmp.resolve("src"), 16 << 20, 5);
                Backupstore bs = target()) {
            v.write(0, 16 << 20);
            v.snapshot("s1");
            BackupResult r;
            r = v.backup(bs, "s1", BackupOptions.defaults());
            BackupConfig.BlockMapping victim = r.config().blocks().get(3);
            Path block = tmp.resolve("target").resolve(Layout.block("vol1", victim.checksum()));
            byte[] good = Files.readAllBytes(block);
            byte[] bad = good.clone();
            bad[bad.length / 2] ^= 1;
            Files.write(block, bad);
            Path d = tmp.resolve("restored");
            assertThatThrownBy(() ->
                            DirectoryRestore.restore(bs, "vol1", r.config().name(), List.of(d), 2, Progress.NONE))
                    .isInstanceOf(CorruptBackupException.class)
                    .hasMessageContaining(victim.checksum())
                    .hasMessageContaining("offset " + victim.offset());
            assertThat(d).doesNotExist();
            Files.delete(block);
            assertThatThrownBy(() ->
                            DirectoryRestore.restore(bs, "vol1", r.config().name(), List.of(d), 2, Progress.NONE))
                    .isInstanceOf(CorruptBackupException.class)
                    .hasMessageContaining("missing")
                    .hasMessageContaining(victim.checksum());
            assertThat(d).doesNotExist();
            Files.write(block, good);
            DirectoryRestore.restore(bs, "vol1", r.config().name(), List.of(d), 2, Progress.NONE);
            TestVolume.assertReads(d, v.model);
        }
    }

    /** Fails every read at or past an offset, as a replica that dies mid-backup. */
    private static final class FailingSource extends DelegatingSource {
        private final long failAt;

        FailingSource(SnapshotSource inner, long failAt) {
            super(inner);
            this.failAt = failAt;
        }

        @Override
        public boolean mayHoldData(long offset, long length) {
            return true; // read every block, so the failure is met
        }

        @Override
        public Read read(long offset, byte[] dst, String since) throws IOException {
            if (offset >= failAt) {
                throw new IOException("injected: replica gone");
            }
            return super.read(offset, dst, since);
        }

        @Override
        public void close() {} // the test closes the source it wraps
    }
}
