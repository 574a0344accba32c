package io.bighorn.bench;

import io.bighorn.backup.BackupOptions;
import io.bighorn.backup.BackupResult;
import io.bighorn.backup.Backupstore;
import io.bighorn.backup.DirectoryRestore;
import io.bighorn.backup.Progress;
import io.bighorn.backup.ReplicaSnapshotSource;
import io.bighorn.backup.RestoreResult;
import io.bighorn.backup.SnapshotSource;
import io.bighorn.dataplane.replica.LocalReplicaEndpoint;
import io.bighorn.dataplane.replica.Replica;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import org.gaul.s3proxy.S3Proxy;
import org.gaul.s3proxy.auth.AuthenticationType;
import org.gaul.s3proxy.nio2blob.FilesystemNio2BlobStore;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * The backup benchmark: a volume, half random data and half written zeros, backed up in full and restored,
 * to a directory and to S3 (s3proxy in this JVM, storing on disk), each against the plain transfer of the
 * same bytes in the same run: the backup's compressed blocks written as files (write + fsync) or put with
 * the same SDK, {@code CONCURRENCY} at a time, and fetched back for the restore's comparison.
 *
 * <p>Usage: {@code BackupBench DIR [SIZE_MiB] [CONCURRENCY] [file,s3]}. Prints a Markdown table.
 */
public final class BackupBench {
    private static final String KEY = "bench-key";
    private static final String SECRET = "bench-secret-5d1c";
    private static final String BUCKET = "bench";

    private BackupBench() {}

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        long size = (args.length > 1 ? Long.parseLong(args[1]) : 4096) << 20;
        int concurrency = args.length > 2 ? Integer.parseInt(args[2]) : 4;
        Files.createDirectories(dir);
        Path src = dir.resolve("src");
        System.err.printf("writing a %d MiB volume (half random, half zeros)%n", size >> 20);
        try (Replica r = Replica.create(src, size)) {
            byte[] chunk = new byte[8 << 20];
            SplittableRandom random = new SplittableRandom(42);
            for (long at = 0; at < size; at += chunk.length) {
                if (at < size / 2) {
                    fill(random, chunk);
                } else if (at == size / 2) {
                    java.util.Arrays.fill(chunk, (byte) 0);
                }
                r.write(0, at, ByteBuffer.wrap(chunk));
            }
            r.snapshot("bench", true, Map.of());
        }
        Files.createDirectories(dir.resolve("s3"));
        FilesystemNio2BlobStore blobs =
                new FilesystemNio2BlobStore(dir.resolve("s3").toString());
        blobs.createContainer(BUCKET);
        S3Proxy proxy = S3Proxy.builder()
                .blobStore(blobs)
                .awsAuthentication(AuthenticationType.AWS_V4, KEY, SECRET)
                .endpoint(URI.create("http://127.0.0.1:0"))
                .ignoreUnknownHeaders(true)
                .build();
        proxy.start();
        while (!proxy.getState().equals("STARTED")) {
            Thread.onSpinWait();
        }
        String endpoint = "http://127.0.0.1:" + proxy.getPort();
        Map<String, String> env =
                Map.of("AWS_ACCESS_KEY_ID", KEY, "AWS_SECRET_ACCESS_KEY", SECRET, "AWS_ENDPOINTS", endpoint);
        List<String> rows = new ArrayList<>();
        warmUp(dir, env);
        try (Replica source = Replica.open(src, true, java.time.Clock.systemUTC());
                S3Client s3 = client(endpoint)) {
            for (String kind : args.length > 3 ? List.of(args[3].split(",")) : List.of("file", "s3")) {
                String url = kind.equals("file")
                        ? "file://" + dir.resolve("target").toAbsolutePath()
                        : "s3://" + BUCKET + "@us-east-1/backups";
                rows.add(run(kind, url, env, source, dir, concurrency, s3));
            }
        } finally {
            proxy.stop();
        }
        System.out.printf(
                "| target | backup MB/s (volume) | stored MB | backup MB/s (stored) | plain upload MB/s | ratio | restore MB/s (stored) | plain download MB/s | ratio |%n");
        System.out.printf("|---|---|---|---|---|---|---|---|---|%n");
        rows.forEach(System.out::println);
    }

    /**
     * Backs up and restores a small volume to each target first, untimed, so the measured runs find the
     * code compiled, as in an agent that has been up for a while (the plain transfers run after a backup
     * and find theirs compiled by then).
     */
    private static void warmUp(Path dir, Map<String, String> env) throws Exception {
        System.err.printf("warming up%n");
        Path src = dir.resolve("warm-src");
        try (Replica r = Replica.create(src, 128L << 20)) {
            byte[] chunk = new byte[8 << 20];
            fill(new SplittableRandom(7), chunk);
            for (long at = 0; at < 64L << 20; at += chunk.length) { // and a hole after it
                r.write(0, at, ByteBuffer.wrap(chunk));
            }
            r.snapshot("warm", true, Map.of());
        }
        try (Replica source = Replica.open(src, true, java.time.Clock.systemUTC())) {
            for (String url : List.of(
                    "file://" + dir.resolve("warm-target").toAbsolutePath(), "s3://" + BUCKET + "@us-east-1/warm")) {
                try (Backupstore store = Backupstore.open(url, env);
                        SnapshotSource snap =
                                ReplicaSnapshotSource.open(new LocalReplicaEndpoint(source), "warm", false)) {
                    BackupResult b = store.backup("warm", snap, BackupOptions.defaults(), Progress.NONE);
                    String name = b.config().name();
                    DirectoryRestore.restore(
                            store,
                            "warm",
                            name,
                            List.of(dir.resolve("warm-restored-" + url.charAt(0))),
                            4,
                            Progress.NONE);
                }
            }
        }
    }

    private static void fill(SplittableRandom random, byte[] chunk) {
        ByteBuffer b = ByteBuffer.wrap(chunk);
        while (b.hasRemaining()) {
            b.putLong(random.nextLong());
        }
    }

    private static S3Client client(String endpoint) {
        return S3Client.builder()
                .endpointOverride(URI.create(endpoint))
                .forcePathStyle(true)
                .region(Region.US_EAST_1)
                .credentialsProvider(StaticCredentialsProvider.create(AwsBasicCredentials.create(KEY, SECRET)))
                .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
                .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED)
                .httpClientBuilder(software.amazon.awssdk.http.apache5.Apache5HttpClient.builder()
                        .maxConnections(64))
                .build();
    }

    private static String run(
            String kind, String url, Map<String, String> env, Replica source, Path dir, int concurrency, S3Client s3)
            throws Exception {
        System.err.printf("%s: backup%n", kind);
        BackupResult b;
        try (Backupstore store = Backupstore.open(url, env);
                SnapshotSource snap = ReplicaSnapshotSource.open(new LocalReplicaEndpoint(source), "bench", false)) {
            b = store.backup("bench", snap, BackupOptions.defaults().withConcurrency(concurrency), Progress.NONE);
        }
        long stored = b.bytesUploaded();
        System.err.printf("%s: backup took %.2f s%n", kind, b.millis() / 1e3);
        // the same compressed blocks, read back from the target into memory before the clock starts
        List<byte[]> blocks = new ArrayList<>();
        try (Backupstore store = Backupstore.open(url, env)) {
            for (String f : store.store().listFiles("backupstore/volumes")) {
                if (f.endsWith(".blk")) {
                    blocks.add(store.store().read("backupstore/volumes/" + f));
                }
            }
        }
        System.err.printf("%s: plain upload of %d blocks%n", kind, blocks.size());
        Path plainDir = dir.resolve("plain-" + kind);
        Files.createDirectories(plainDir);
        long t0 = System.nanoTime();
        parallel(concurrency, blocks.size(), i -> {
            if (kind.equals("file")) {
                try (FileChannel ch = FileChannel.open(
                        plainDir.resolve(i + ".blk"), StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
                    ByteBuffer buf = ByteBuffer.wrap(blocks.get(i));
                    while (buf.hasRemaining()) {
                        ch.write(buf);
                    }
                    ch.force(true);
                }
            } else {
                s3.putObject(r -> r.bucket(BUCKET).key("plain/" + i + ".blk"), RequestBody.fromBytes(blocks.get(i)));
            }
        });
        double plainUp = (System.nanoTime() - t0) / 1e9;
        long plainBytes = blocks.stream().mapToLong(x -> x.length).sum();

        System.err.printf("%s: restore%n", kind);
        Path restored = dir.resolve("restored-" + kind);
        RestoreResult r;
        try (Backupstore store = Backupstore.open(url, env)) {
            r = DirectoryRestore.restore(
                    store, "bench", b.config().name(), List.of(restored), concurrency, Progress.NONE);
        }
        System.err.printf("%s: plain download%n", kind);
        AtomicLong got = new AtomicLong();
        t0 = System.nanoTime();
        parallel(concurrency, blocks.size(), i -> {
            byte[] data = kind.equals("file")
                    ? Files.readAllBytes(plainDir.resolve(i + ".blk"))
                    : s3.getObjectAsBytes(x -> x.bucket(BUCKET).key("plain/" + i + ".blk"))
                            .asByteArray();
            got.addAndGet(data.length);
        });
        double plainDown = (System.nanoTime() - t0) / 1e9;
        double backupSecs = b.millis() / 1e3;
        double restoreSecs = r.millis() / 1e3;
        double upRatio = plainUp / backupSecs;
        double downRatio = plainDown / restoreSecs;
        return String.format(
                Locale.ROOT,
                "| %s | %.0f | %.0f | %.0f | %.0f | %.2f | %.0f | %.0f | %.2f |",
                kind,
                source.size() / backupSecs / 1e6,
                stored / 1e6,
                stored / backupSecs / 1e6,
                plainBytes / plainUp / 1e6,
                upRatio,
                r.bytesDownloaded() / restoreSecs / 1e6,
                got.get() / plainDown / 1e6,
                downRatio);
    }

    interface Task {
        void run(int i) throws Exception;
    }

    private static void parallel(int threads, int n, Task task) throws Exception {
        try (ExecutorService pool = Executors.newFixedThreadPool(threads)) {
            List<Future<?>> fs = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                int k = i;
                fs.add(pool.submit(() -> {
                    task.run(k);
                    return null;
                }));
            }
            for (Future<?> f : fs) {
                f.get();
            }
        }
    }
}
