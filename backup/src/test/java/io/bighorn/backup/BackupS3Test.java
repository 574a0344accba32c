package io.bighorn.backup;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.bighorn.backup.store.BackupTarget;
import io.bighorn.backup.store.S3Server;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Backups to a real S3 protocol server (s3proxy, in this JVM) and their restores. */
class BackupS3Test {
    private static S3Server s3;

    @TempDir
    Path tmp;

    @BeforeAll
    static void startS3() throws Exception {
        s3 = S3Server.start();
    }

    @AfterAll
    static void stopS3() throws Exception {
        s3.close();
    }

    private static Backupstore target(String path, Map<String, String> env) {
        return new Backupstore(BackupTarget.open(s3.url(path), env), Duration.ZERO);
    }

    @Test
    void aOneGibVolumeRoundTripsThroughS3AndTheNextBackupIsIncremental() throws IOException {
        int size = 1 << 30;
        try (TestVolume v = new TestVolume(tmp.resolve("src"), size, 11);
                Backupstore bs = target("roundtrip", s3.env())) {
            v.write(0, 64 << 20);
            v.scatter(16 << 20, 4096, 64 << 10);
            v.writeZeros(300 << 20, 32 << 20);
            v.write(900L << 20, 4096);
            byte[] first = v.snapshot("s1");
            BackupResult r1;
            r1 = v.backup(bs, "s1", BackupOptions.defaults());
            java.util.BitSet touched = v.scatter(size / 20, 256 << 10, 2 << 20);
            byte[] second = v.snapshot("s2");
            BackupResult r2;
            r2 = v.backup(bs, "s2", BackupOptions.defaults());
            assertThat(r2.incremental()).isTrue();
            assertThat(r2.blocksUploaded()).isEqualTo(touched.cardinality());
            assertThat(bs.volumes()).containsExactly("vol1");
            assertThat(bs.backupNames("vol1"))
                    .containsExactlyInAnyOrder(r1.config().name(), r2.config().name());
            Path d1 = tmp.resolve("one");
            DirectoryRestore.restore(bs, "vol1", r1.config().name(), List.of(d1), 4, Progress.NONE);
            TestVolume.assertReads(d1, first);
            Path d2 = tmp.resolve("two");
            DirectoryRestore.restore(bs, "vol1", r2.config().name(), List.of(d2), 4, Progress.NONE);
            TestVolume.assertReads(d2, second);
            DeleteResult d = bs.delete("vol1", r1.config().name());
            assertThat(d.gcSkipped()).isNull();
            assertThat(d.blocksRemoved()).isPositive();
            DirectoryRestore.restore(bs, "vol1", r2.config().name(), List.of(tmp.resolve("three")), 4, Progress.NONE);
            TestVolume.assertReads(tmp.resolve("three"), second);
        }
    }

    @Test
    void refusedCredentialsAndAnUnreachableEndpointAreClearErrorsThatChangeNothing() throws Exception {
        try (TestVolume v = new TestVolume(tmp.resolve("src"), 8 << 20, 12);
                Backupstore good = target("auth", s3.env())) {
            v.write(0, 4 << 20);
            v.snapshot("s1");
            BackupResult r;
            r = v.backup(good, "s1", BackupOptions.defaults());
            Map<String, String> wrong = new HashMap<>(s3.env());
            wrong.put("AWS_SECRET_ACCESS_KEY", "not-the-secret");
            try (Backupstore bad = target("auth", wrong);
                    SnapshotSource src = v.source("s1")) {
                assertThatThrownBy(() -> bad.backup("vol1", src, BackupOptions.defaults(), Progress.NONE))
                        .isInstanceOf(IOException.class)
                        .hasMessageContaining("refused the credentials")
                        .hasMessageNotContaining("not-the-secret");
                assertThatThrownBy(() -> bad.delete("vol1", r.config().name()))
                        .hasMessageContaining("refused the credentials");
            }
            int port;
            try (java.net.ServerSocket free = new java.net.ServerSocket(0)) {
                port = free.getLocalPort();
            }
            Map<String, String> nowhere = new HashMap<>(s3.env());
            nowhere.put("AWS_ENDPOINTS", "http://127.0.0.1:" + port);
            try (Backupstore off = target("auth", nowhere)) {
                assertThatThrownBy(off::volumes).hasMessageContaining("cannot reach S3 endpoint");
            }
            // nothing at the target was lost
            assertThat(good.backupNames("vol1")).containsExactly(r.config().name());
            DirectoryRestore.restore(good, "vol1", r.config().name(), List.of(tmp.resolve("r")), 2, Progress.NONE);
            TestVolume.assertReads(tmp.resolve("r"), v.model);
        }
    }
}
