package io.bighorn.backup.store;

import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import org.gaul.s3proxy.S3Proxy;
import org.gaul.s3proxy.auth.AuthenticationType;
import org.gaul.s3proxy.blobstore.BlobStore;
import org.gaul.s3proxy.nio2blob.TransientNio2BlobStore;

/**
 * An S3 server for tests: s3proxy in-process on a free port of 127.0.0.1, over an in-memory blob store, with
 * AWS signature V4 authentication for one fixed identity and one bucket, {@value #BUCKET}.
 *
 * <pre>{@code
 * try (S3Server s3 = S3Server.start();
 *         BackupStore store = BackupTarget.open(s3.url("backups"), s3.env())) {
 *     ...
 * }
 * }</pre>
 *
 * {@link #startHttps} serves HTTPS instead, with a self-signed certificate for 127.0.0.1 whose PEM text
 * {@link #env()} passes as {@code AWS_CERT}.
 */
public final class S3Server implements AutoCloseable {
    public static final String BUCKET = "bighorn-backups";
    public static final String REGION = "us-east-1";
    public static final String ACCESS_KEY_ID = "bighorn-test-key";
    public static final String SECRET_ACCESS_KEY = "bighorn-test-secret-0f3a9c";

    private final S3Proxy proxy;
    private final BlobStore blobs;
    private final URI endpoint;
    private final String certificatePem;

    private S3Server(S3Proxy proxy, BlobStore blobs, URI endpoint, String certificatePem) {
        this.proxy = proxy;
        this.blobs = blobs;
        this.endpoint = endpoint;
        this.certificatePem = certificatePem;
    }

    /** Starts a server on {@code http://127.0.0.1:<free port>} with the bucket {@value #BUCKET}. */
    public static S3Server start() throws Exception {
        return start(false, null);
    }

    /**
     * Starts a server on {@code https://127.0.0.1:<free port>} with the bucket {@value #BUCKET}; its
     * self-signed certificate (made with the JDK's keytool, in {@code dir}) is {@link #certificatePem()}.
     */
    public static S3Server startHttps(Path dir) throws Exception {
        return start(true, dir);
    }

    private static S3Server start(boolean https, Path dir) throws Exception {
        BlobStore blobs = new TransientNio2BlobStore();
        blobs.createContainer(BUCKET);
        S3Proxy.Builder builder = S3Proxy.builder()
                .blobStore(blobs)
                .awsAuthentication(AuthenticationType.AWS_V4, ACCESS_KEY_ID, SECRET_ACCESS_KEY)
                .ignoreUnknownHeaders(true)
                .stopTimeout(0);
        String pem = null;
        if (https) {
            char[] password = "bighorn-test-keystore".toCharArray();
            KeyStore keyStore = selfSignedKeyStore(dir, password);
            pem = pem(keyStore);
            builder.secureEndpoint(URI.create("https://127.0.0.1:0")).sslContext(sslContext(keyStore, password));
        } else {
            builder.endpoint(URI.create("http://127.0.0.1:0"));
        }
        S3Proxy proxy = builder.build();
        proxy.start();
        await().atMost(Duration.ofSeconds(30)).until(() -> proxy.getState().equals("STARTED"));
        int port = https ? proxy.getSecurePort() : proxy.getPort();
        URI endpoint = URI.create((https ? "https" : "http") + "://127.0.0.1:" + port);
        return new S3Server(proxy, blobs, endpoint, pem);
    }

    /** A PKCS#12 key store with a new EC key pair and a self-signed certificate for 127.0.0.1 and localhost. */
    private static KeyStore selfSignedKeyStore(Path dir, char[] password)
            throws IOException, InterruptedException, GeneralSecurityException {
        Path file = Files.createTempFile(dir, "s3server", ".p12");
        Files.delete(file);
        Path keytool = Path.of(System.getProperty("java.home"), "bin", "keytool");
        List<String> command = new ArrayList<>(List.of(
                keytool.toString(),
                "-genkeypair",
                "-alias",
                "s3server",
                "-keyalg",
                "EC",
                "-groupname",
                "secp256r1",
                "-validity",
                "2",
                "-dname",
                "CN=127.0.0.1",
                "-ext",
                "SAN=ip:127.0.0.1,dns:localhost",
                "-storetype",
                "PKCS12",
                "-keystore",
                file.toString(),
                "-storepass",
                new String(password)));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output;
        try (InputStream out = p.getInputStream()) {
            output = new String(out.readAllBytes(), StandardCharsets.UTF_8);
        }
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            p.destroyForcibly();
            throw new IOException("keytool failed: " + output);
        }
        KeyStore keyStore = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(file)) {
            keyStore.load(in, password);
        }
        return keyStore;
    }

    private static String pem(KeyStore keyStore) throws GeneralSecurityException {
        byte[] der = keyStore.getCertificate("s3server").getEncoded();
        return "-----BEGIN CERTIFICATE-----\n"
                + Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII))
                        .encodeToString(der)
                + "\n-----END CERTIFICATE-----\n";
    }

    private static SSLContext sslContext(KeyStore keyStore, char[] password) throws GeneralSecurityException {
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(keyStore, password);
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(kmf.getKeyManagers(), null, null);
        return context;
    }

    /** The server's URL, e.g. {@code http://127.0.0.1:41234}. */
    public URI endpoint() {
        return endpoint;
    }

    /** The bucket the server was started with. */
    public String bucket() {
        return BUCKET;
    }

    /** The PEM text of the server's certificate, or null if it serves plain HTTP. */
    public String certificatePem() {
        return certificatePem;
    }

    /**
     * The settings a store needs to reach this server, with Longhorn's names: {@code AWS_ACCESS_KEY_ID},
     * {@code AWS_SECRET_ACCESS_KEY}, {@code AWS_ENDPOINTS} and, for HTTPS, {@code AWS_CERT}.
     */
    public Map<String, String> env() {
        return certificatePem == null
                ? Map.of(
                        "AWS_ACCESS_KEY_ID", ACCESS_KEY_ID,
                        "AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY,
                        "AWS_ENDPOINTS", endpoint.toString())
                : Map.of(
                        "AWS_ACCESS_KEY_ID", ACCESS_KEY_ID,
                        "AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY,
                        "AWS_ENDPOINTS", endpoint.toString(),
                        "AWS_CERT", certificatePem);
    }

    /** The backup target URL of {@code path} in the bucket: {@code s3://bucket@us-east-1/path}. */
    public String url(String path) {
        return "s3://" + BUCKET + "@" + REGION + "/" + path.replaceFirst("^/+", "");
    }

    /** Creates another bucket. */
    public void createBucket(String name) {
        blobs.createContainer(name);
    }

    /** Stops the server; its content is gone. */
    @Override
    public void close() throws Exception {
        proxy.stop();
    }

    @Override
    public String toString() {
        return "S3Server[" + endpoint + "]";
    }
}
