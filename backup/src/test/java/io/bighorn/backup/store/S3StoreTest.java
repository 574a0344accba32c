package io.bighorn.backup.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.io.TempDir;

/** The S3 store against a real S3 server (s3proxy, in-process): the operations, parallel use and the errors. */
class S3StoreTest {
    private static S3Server server;

    private final List<BackupStore> stores = new ArrayList<>();
    /** A key prefix of this test's own, so that the tests share one server without seeing each other. */
    private String base;

    @BeforeAll
    static void startServer() throws Exception {
        server = S3Server.start();
    }

    @AfterAll
    static void stopServer() throws Exception {
        server.close();
    }

    @BeforeEach
    void name(TestInfo info) {
        base = "tests/" + info.getTestMethod().orElseThrow().getName();
    }

    @AfterEach
    void closeStores() {
        stores.forEach(BackupStore::close);
    }

    private BackupStore open(String url, Map<String, String> env) {
        BackupStore store = BackupTarget.open(url, env);
        stores.add(store);
        return store;
    }

    private BackupStore store() {
        return open(server.url(base), server.env());
    }

    private static Map<String, String> with(Map<String, String> env, String name, String value) {
        Map<String, String> m = new HashMap<>(env);
        if (value == null) {
            m.remove(name);
        } else {
            m.put(name, value);
        }
        return m;
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /** The messages of {@code t} and all its causes. */
    private static String allMessages(Throwable t) {
        StringBuilder b = new StringBuilder();
        for (Throwable c = t; c != null; c = c.getCause()) {
            b.append(c).append('\n');
        }
        return b.toString();
    }

    @Test
    void backupTargetOpensAnS3StoreThatWorks() throws IOException {
        BackupStore store = store();

        assertThat(store).isInstanceOf(S3Store.class);
        assertThat(store.url()).isEqualTo(server.url(base));
        store.write("volumes/v1/volume.cfg", bytes("{\"Name\":\"v1\"}"));
        assertThat(store.read("volumes/v1/volume.cfg")).asString().isEqualTo("{\"Name\":\"v1\"}");
    }

    @Test
    void writeReadExistsAndOverwrite() throws IOException {
        BackupStore store = store();
        byte[] block = new byte[2 << 20];
        new Random(7).nextBytes(block);

        assertThat(store.exists("blocks/aa/bb/block.blk")).isFalse();
        store.write("blocks/aa/bb/block.blk", block);
        assertThat(store.exists("blocks/aa/bb/block.blk")).isTrue();
        assertThat(store.read("blocks/aa/bb/block.blk")).isEqualTo(block);

        store.write("blocks/aa/bb/block.blk", bytes("new"));
        assertThat(store.read("blocks/aa/bb/block.blk")).asString().isEqualTo("new");

        store.write("empty", new byte[0]);
        assertThat(store.read("empty")).isEmpty();
        assertThat(store.exists("blocks/aa")).as("a directory is not a file").isFalse();
    }

    @Test
    void keysArePrefixPlusPath() throws IOException {
        BackupStore store = open(server.url(base + "/deeper/"), server.env());
        BackupStore root = open("s3://" + server.bucket() + "@us-east-1", server.env());

        store.write("a/file", bytes("x"));

        assertThat(root.read(base + "/deeper/a/file")).asString().isEqualTo("x");
        assertThat(root.listFiles(base)).containsExactly("deeper/a/file");
        assertThat(root.list("")).contains("tests");
    }

    @Test
    void listNamesTheDirectChildrenSorted() throws IOException {
        BackupStore store = store();
        for (String path : List.of("d/b.cfg", "d/a.cfg", "d/sub/x", "d/sub/deeper/y", "d/other/z", "dd/not-below-d")) {
            store.write(path, bytes(path));
        }

        assertThat(store.list("d")).containsExactly("a.cfg", "b.cfg", "other", "sub");
        assertThat(store.list("d/")).containsExactly("a.cfg", "b.cfg", "other", "sub");
        assertThat(store.list("d/sub")).containsExactly("deeper", "x");
        assertThat(store.list("")).containsExactly("d", "dd");
        assertThat(store.list("nothing")).isEmpty();
        assertThat(store.list("d/a.cfg")).as("a file has no entries").isEmpty();
    }

    @Test
    void listFilesNamesEveryFileBelowRelativeAndSorted() throws IOException {
        BackupStore store = store();
        for (String path : List.of("d/b", "d/a", "d/sub/x", "d/sub/deeper/y", "dd/not-below-d")) {
            store.write(path, bytes(path));
        }

        assertThat(store.listFiles("d")).containsExactly("a", "b", "sub/deeper/y", "sub/x");
        assertThat(store.listFiles("d/sub")).containsExactly("deeper/y", "x");
        assertThat(store.listFiles("nothing")).isEmpty();
    }

    @Test
    void modifiedIsTheTimeOfTheLastWrite() throws IOException {
        BackupStore store = store();
        // S3 keeps Last-Modified to the second.
        Instant before = Instant.now().truncatedTo(ChronoUnit.SECONDS);
        store.write("f", bytes("x"));
        Instant after = Instant.now();

        assertThat(store.modified("f")).isBetween(before, after.plusSeconds(1));
        assertThatThrownBy(() -> store.modified("missing"))
                .isInstanceOf(NoSuchFileException.class)
                .hasMessage("missing");
    }

    @Test
    void readingAMissingFileIsNoSuchFile() {
        BackupStore store = store();

        assertThatThrownBy(() -> store.read("backups/backup_1.cfg"))
                .isInstanceOf(NoSuchFileException.class)
                .hasMessage("backups/backup_1.cfg");
    }

    @Test
    void deleteRemovesOneFileAndIgnoresAMissingOne() throws IOException {
        BackupStore store = store();
        store.write("a", bytes("a"));
        store.write("b", bytes("b"));

        store.delete("a");
        store.delete("a");
        store.delete("never-was");

        assertThat(store.exists("a")).isFalse();
        assertThat(store.listFiles("")).containsExactly("b");
    }

    @Test
    void deleteAllRemovesEverythingBelowADirectoryAndNothingElse() throws IOException {
        BackupStore store = store();
        for (String path : List.of("v/blocks/1", "v/blocks/2/3", "v/cfg", "v2/blocks/1", "vfile")) {
            store.write(path, bytes(path));
        }

        store.deleteAll("v");
        store.deleteAll("never-was");

        assertThat(store.listFiles("")).containsExactly("v2/blocks/1", "vfile");
        assertThat(store.list("v")).isEmpty();
    }

    @Test
    void parallelWritesFromEightThreadsThenListingAndDeletingPageByPage() throws Exception {
        // Pages of 7 keys: many listing pages and DeleteObjects batches, without writing thousands of files.
        BackupStore store = S3Store.open((BackupTarget.S3) BackupTarget.parse(server.url(base)), server.env(), 7);
        stores.add(store);
        int files = 240;
        List<String> expected = IntStream.range(0, files)
                .mapToObj(i -> "blocks/%02x/%04d.blk".formatted(i % 16, i))
                .sorted()
                .toList();
        try (ExecutorService pool = Executors.newFixedThreadPool(8)) {
            List<Future<?>> writes = new ArrayList<>();
            for (String path : expected) {
                writes.add(pool.submit(() -> {
                    store.write(path, bytes(path));
                    return null;
                }));
            }
            for (Future<?> w : writes) {
                w.get();
            }
            List<Future<byte[]>> reads = new ArrayList<>();
            for (String path : expected) {
                reads.add(pool.submit(() -> store.read(path)));
            }
            for (int i = 0; i < files; i++) {
                assertThat(reads.get(i).get()).asString().isEqualTo(expected.get(i));
            }
        }

        assertThat(store.listFiles("")).isEqualTo(expected);
        assertThat(store.listFiles("blocks/0a")).hasSize(15).allMatch(name -> name.matches("\\d{4}\\.blk"));
        assertThat(store.list("blocks"))
                .isEqualTo(IntStream.range(0, 16).mapToObj("%02x"::formatted).toList());
        store.deleteAll("blocks");
        assertThat(store.listFiles("")).isEmpty();
    }

    @Test
    void aWrongSecretIsRefusedCredentialsWithoutTheSecretInTheMessage() {
        String wrong = "not-the-secret-b71c44";
        BackupStore store = open(server.url(base), with(server.env(), "AWS_SECRET_ACCESS_KEY", wrong));

        for (Throwable t : List.of(
                catchThrowable(() -> store.exists("x")),
                catchThrowable(() -> store.read("x")),
                catchThrowable(() -> store.write("x", bytes("x"))),
                catchThrowable(() -> store.list("")))) {
            assertThat(t)
                    .isInstanceOf(IOException.class)
                    .isNotInstanceOf(NoSuchFileException.class)
                    .hasMessageContaining("S3 refused the credentials for " + server.url(base))
                    .hasMessageContaining("access key ID " + S3Server.ACCESS_KEY_ID);
            assertThat(allMessages(t)).doesNotContain(wrong).doesNotContain(S3Server.SECRET_ACCESS_KEY);
        }
    }

    @Test
    void anUnknownAccessKeyIsRefusedCredentials() {
        BackupStore store = open(server.url(base), with(server.env(), "AWS_ACCESS_KEY_ID", "nobody"));

        assertThatThrownBy(() -> store.read("x"))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("S3 refused the credentials for " + server.url(base))
                .hasMessageContaining("access key ID nobody");
    }

    @Test
    void withoutKeysTheAccessIsAnonymous() throws IOException {
        Map<String, String> env = Map.of("AWS_ENDPOINTS", server.endpoint().toString());
        BackupStore store = open(server.url(base), env);
        store().write("x", bytes("x"));

        for (Throwable t : List.of(
                catchThrowable(() -> store.read("x")),
                catchThrowable(() -> store.exists("x")),
                catchThrowable(() -> store.write("y", bytes("y"))),
                catchThrowable(() -> store.list("")))) {
            assertThat(t)
                    .isInstanceOf(IOException.class)
                    .hasMessageContaining("S3 refused the credentials")
                    .hasMessageContaining("anonymous access");
        }
    }

    @Test
    void onlyOneOfTheKeysIsAnError() {
        String url = server.url(base);
        Map<String, String> noSecret = with(server.env(), "AWS_SECRET_ACCESS_KEY", null);
        Map<String, String> noId = with(server.env(), "AWS_ACCESS_KEY_ID", "");

        assertThatThrownBy(() -> BackupTarget.open(url, noSecret))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(url)
                .hasMessageContaining("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
        assertThatThrownBy(() -> BackupTarget.open(url, noId))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not")
                .hasMessageNotContaining(S3Server.SECRET_ACCESS_KEY);
    }

    @Test
    void aMalformedEndpointIsAnError() {
        assertThatThrownBy(() -> BackupTarget.open(server.url(base), with(server.env(), "AWS_ENDPOINTS", "minio:9000")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("AWS_ENDPOINTS=minio:9000");
    }

    @Test
    void anUnreachableEndpointFailsWithAClearMessage() throws IOException {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        String endpoint = "http://127.0.0.1:" + port;
        BackupStore store = open(server.url(base), with(server.env(), "AWS_ENDPOINTS", endpoint));

        assertThatThrownBy(() -> store.exists("x"))
                .isInstanceOf(IOException.class)
                .hasMessageStartingWith("cannot reach S3 endpoint " + endpoint + " for " + server.url(base))
                .hasMessageEndingWith(": connection refused");
        assertThatThrownBy(() -> store.write("x", bytes("x")))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("cannot reach S3 endpoint " + endpoint);
    }

    @Test
    void aMissingBucketIsNamed() {
        String url = "s3://no-such-bucket@us-east-1/" + base;
        BackupStore store = open(url, server.env());

        for (Throwable t : List.of(
                catchThrowable(() -> store.read("x")),
                catchThrowable(() -> store.exists("x")),
                catchThrowable(() -> store.modified("x")),
                catchThrowable(() -> store.list("")),
                catchThrowable(() -> store.write("x", bytes("x"))))) {
            assertThat(t)
                    .isInstanceOf(IOException.class)
                    .isNotInstanceOf(NoSuchFileException.class)
                    .hasMessageStartingWith("bucket no-such-bucket does not exist at " + server.endpoint())
                    .hasMessageContaining(url);
        }
    }

    @Test
    void anotherBucketOfTheServerWorks() throws IOException {
        server.createBucket("second-bucket");
        BackupStore store = open("s3://second-bucket@us-east-1/" + base, server.env());

        store.write("f", bytes("x"));
        assertThat(store.exists("f")).isTrue();
        assertThat(store.list("")).containsExactly("f");
    }

    @Test
    void pathsMustStayInsideTheTarget() {
        BackupStore store = store();

        for (String bad : List.of("../x", "a/../../x", "/abs", "a//b", "a/./b", "")) {
            assertThatThrownBy(() -> store.read(bad)).as(bad).isInstanceOf(IllegalArgumentException.class);
        }
    }

    @Test
    void anHttpsEndpointWithAPrivateCaIsTrustedThroughAwsCert(@TempDir Path dir) throws Exception {
        try (S3Server https = S3Server.startHttps(dir)) {
            assertThat(https.endpoint().getScheme()).isEqualTo("https");
            BackupStore store = open(https.url(base), https.env());

            store.write("f", bytes("over TLS"));
            assertThat(store.read("f")).asString().isEqualTo("over TLS");

            BackupStore untrusting = open(https.url(base), with(https.env(), "AWS_CERT", null));
            assertThatThrownBy(() -> untrusting.read("f"))
                    .isInstanceOf(IOException.class)
                    .hasMessageContaining("TLS with S3 endpoint " + https.endpoint())
                    .hasMessageContaining("AWS_CERT");
        }
    }

    @Test
    void awsCertIsParsedAsPem(@TempDir Path dir) throws Exception {
        String pem;
        try (S3Server https = S3Server.startHttps(dir)) {
            pem = https.certificatePem();
        }

        assertThat(S3Store.parseCertificates(pem)).hasSize(1);
        assertThat(S3Store.parseCertificates("# two\r\n" + pem.replace("\n", "\r\n") + "\n  " + pem))
                .hasSize(2);
        assertThat(S3Store.parseCertificates(pem)
                        .getFirst()
                        .getSubjectX500Principal()
                        .getName())
                .isEqualTo("CN=127.0.0.1");
        assertThatThrownBy(() -> S3Store.parseCertificates("not a certificate"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("AWS_CERT holds no PEM certificate");
        assertThatThrownBy(
                        () -> S3Store.parseCertificates("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("AWS_CERT: certificate 1 does not parse");
        assertThatThrownBy(() -> BackupTarget.open(server.url(base), with(server.env(), "AWS_CERT", "garbage")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("AWS_CERT");
    }
}
