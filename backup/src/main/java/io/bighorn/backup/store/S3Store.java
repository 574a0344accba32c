package io.bighorn.backup.store;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.ConnectException;
import java.net.NoRouteToHostException;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.UnknownHostException;
import java.nio.file.NoSuchFileException;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.net.ssl.SSLException;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;
import org.apache.hc.client5.http.ConnectTimeoutException;
import software.amazon.awssdk.auth.credentials.AnonymousCredentialsProvider;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.awscore.exception.AwsErrorDetails;
import software.amazon.awssdk.awscore.exception.AwsServiceException;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.core.exception.AbortedException;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.http.apache5.Apache5HttpClient;
import software.amazon.awssdk.profiles.ProfileFile;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.LegacyMd5Plugin;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.S3ClientBuilder;
import software.amazon.awssdk.services.s3.model.CommonPrefix;
import software.amazon.awssdk.services.s3.model.Delete;
import software.amazon.awssdk.services.s3.model.DeleteObjectsResponse;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;
import software.amazon.awssdk.services.s3.model.ListObjectsV2Request;
import software.amazon.awssdk.services.s3.model.ListObjectsV2Response;
import software.amazon.awssdk.services.s3.model.NoSuchKeyException;
import software.amazon.awssdk.services.s3.model.ObjectIdentifier;
import software.amazon.awssdk.services.s3.model.S3Error;
import software.amazon.awssdk.services.s3.model.S3Object;

/**
 * A backup target in an S3 bucket (AWS or any S3-compatible server: MinIO, Ceph RGW, s3proxy), below a key
 * prefix. A path {@code p} is the object {@code prefix/p}; directories are key prefixes, as in Longhorn's
 * backupstore.
 *
 * <p>The settings come from an environment map with Longhorn's names (see {@link #open}). The store is
 * thread-safe: one {@link S3Client} with a pool of {@value #MAX_CONNECTIONS} connections serves all
 * threads. SDK failures become {@link IOException}s that name the target, the operation and the cause
 * (unreachable endpoint, refused credentials, missing bucket), never the secret key.
 */
final class S3Store implements BackupStore {
    static final String ACCESS_KEY_ID = "AWS_ACCESS_KEY_ID";
    static final String SECRET_ACCESS_KEY = "AWS_SECRET_ACCESS_KEY";
    static final String ENDPOINTS = "AWS_ENDPOINTS";
    static final String VIRTUAL_HOSTED_STYLE = "VIRTUAL_HOSTED_STYLE";
    static final String CERT = "AWS_CERT";
    static final String REGION = "AWS_REGION";
    static final String DEFAULT_REGION = "us-east-1";

    /** Enough for the backup's parallel uploads and restores (4 by default, 16 at most) with room to spare. */
    static final int MAX_CONNECTIONS = 64;

    /** Longhorn's backupstore tries S3 requests 5 times. */
    static final int MAX_ATTEMPTS = 5;

    static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(5);
    static final Duration SOCKET_TIMEOUT = Duration.ofSeconds(30);

    /** The most keys one listing page holds and one DeleteObjects call takes. */
    static final int PAGE = 1000;

    private static final Pattern PEM_CERTIFICATE =
            Pattern.compile("-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", Pattern.DOTALL);

    private final String url;
    private final String bucket;
    private final String prefix;
    /** The endpoint, for messages. */
    private final String endpoint;
    /** Who we are, for messages: the access key ID (not secret) or "anonymous". */
    private final String identity;

    private final S3Client s3;
    /** Keys per listing page and per DeleteObjects call: {@value #PAGE}, fewer in tests. */
    private final int pageSize;

    /**
     * Whether the bucket is known to exist: a HEAD of a missing object and a HEAD in a missing bucket both
     * answer a bare 404, so until some request has succeeded, a 404 from a HEAD is followed by a HeadBucket.
     */
    private volatile boolean bucketSeen;

    private S3Store(
            String url, String bucket, String prefix, String endpoint, String identity, S3Client s3, int pageSize) {
        this.url = url;
        this.bucket = bucket;
        this.prefix = prefix;
        this.endpoint = endpoint;
        this.identity = identity;
        this.s3 = s3;
        this.pageSize = pageSize;
    }

    /**
     * Opens the store of {@code target}. {@code env} holds the settings, with Longhorn's names:
     *
     * <ul>
     *   <li>{@code AWS_ACCESS_KEY_ID} and {@code AWS_SECRET_ACCESS_KEY}: both, or neither for anonymous access
     *       (the SDK's default credentials chain is not consulted);
     *   <li>{@code AWS_ENDPOINTS}: the URL of an S3-compatible server instead of AWS; it is addressed path-style
     *       ({@code http://host/bucket/key}) unless {@code VIRTUAL_HOSTED_STYLE=true};
     *   <li>{@code AWS_CERT}: PEM certificates of CAs to trust besides the JDK's, for an HTTPS endpoint with a
     *       private CA;
     *   <li>{@code AWS_REGION}: the region when the URL names none (else us-east-1).
     * </ul>
     *
     * Nothing is sent until the first operation: an unreachable endpoint or a wrong key shows there.
     *
     * @throws IllegalArgumentException if the settings are inconsistent or malformed
     */
    static BackupStore open(BackupTarget.S3 target, Map<String, String> env) {
        return open(target, env, PAGE);
    }

    /** {@link #open(BackupTarget.S3, Map)} with listing pages and delete batches of {@code pageSize} keys. */
    static S3Store open(BackupTarget.S3 target, Map<String, String> env, int pageSize) {
        if (pageSize < 1 || pageSize > PAGE) {
            throw new IllegalArgumentException("page size " + pageSize + " is not in [1, " + PAGE + "]");
        }
        String keyId = setting(env, ACCESS_KEY_ID);
        String secret = setting(env, SECRET_ACCESS_KEY);
        if ((keyId == null) != (secret == null)) {
            throw new IllegalArgumentException("S3 backup target " + target.url() + ": "
                    + (keyId == null
                            ? SECRET_ACCESS_KEY + " is set but " + ACCESS_KEY_ID + " is not"
                            : ACCESS_KEY_ID + " is set but " + SECRET_ACCESS_KEY + " is not")
                    + "; set both, or neither for anonymous access");
        }
        AwsCredentialsProvider credentials = keyId == null
                ? AnonymousCredentialsProvider.create()
                : StaticCredentialsProvider.create(AwsBasicCredentials.create(keyId, secret));

        String region = !target.region().isEmpty() ? target.region() : setting(env, REGION);
        if (region == null) {
            region = DEFAULT_REGION;
        }

        URI endpointOverride = null;
        String endpointSetting = setting(env, ENDPOINTS);
        if (endpointSetting != null) {
            endpointOverride = endpointUri(target, endpointSetting);
        }
        String endpoint =
                endpointOverride != null ? endpointOverride.toString() : "https://s3." + region + ".amazonaws.com";

        Apache5HttpClient.Builder http = Apache5HttpClient.builder()
                .maxConnections(MAX_CONNECTIONS)
                .connectionTimeout(CONNECT_TIMEOUT)
                .socketTimeout(SOCKET_TIMEOUT)
                .tcpKeepAlive(true);
        String cert = setting(env, CERT);
        if (cert != null) {
            TrustManager[] trust = trustManagers(target, parseCertificates(cert));
            http.tlsTrustManagersProvider(() -> trust.clone());
        }

        S3ClientBuilder builder = S3Client.builder()
                .region(Region.of(region))
                .credentialsProvider(credentials)
                .httpClientBuilder(http)
                // S3-compatible servers often know neither the newer flexible checksums nor their headers;
                // DeleteObjects, which needs a checksum, gets the Content-MD5 every server knows.
                .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
                .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED)
                .addPlugin(LegacyMd5Plugin.create())
                .overrideConfiguration(o -> o.retryStrategy(r -> r.maxAttempts(MAX_ATTEMPTS))
                        // Only env decides: no ~/.aws/config settings (endpoints, retries, checksums).
                        .defaultProfileFile(emptyProfileFile()));
        if (endpointOverride != null) {
            builder.endpointOverride(endpointOverride)
                    .forcePathStyle(!Boolean.parseBoolean(setting(env, VIRTUAL_HOSTED_STYLE)));
        }
        return new S3Store(
                target.url(),
                target.bucket(),
                target.prefix(),
                endpoint,
                keyId == null ? "anonymous access" : "access key ID " + keyId,
                builder.build(),
                pageSize);
    }

    /** The value of {@code name}, trimmed; null if unset or blank. */
    private static String setting(Map<String, String> env, String name) {
        String v = env.get(name);
        return v == null || v.isBlank() ? null : v.strip();
    }

    private static URI endpointUri(BackupTarget.S3 target, String value) {
        URI uri;
        try {
            uri = new URI(value);
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException(
                    "S3 backup target " + target.url() + ": " + ENDPOINTS + "=" + value + " is not a URL", e);
        }
        String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
        if ((!scheme.equals("http") && !scheme.equals("https")) || uri.getHost() == null) {
            throw new IllegalArgumentException("S3 backup target " + target.url() + ": " + ENDPOINTS + "=" + value
                    + " is not an http:// or https:// URL with a host");
        }
        return uri;
    }

    private static ProfileFile emptyProfileFile() {
        return ProfileFile.builder()
                .content("")
                .type(ProfileFile.Type.CONFIGURATION)
                .build();
    }

    /**
     * The certificates in PEM text: one or more {@code -----BEGIN CERTIFICATE-----} blocks, anything between
     * them ignored.
     *
     * @throws IllegalArgumentException if there is none, or one does not parse
     */
    static List<X509Certificate> parseCertificates(String pem) {
        CertificateFactory factory;
        try {
            factory = CertificateFactory.getInstance("X.509");
        } catch (CertificateException e) {
            throw new IllegalStateException("this JDK has no X.509 certificate factory", e);
        }
        List<X509Certificate> certs = new ArrayList<>();
        Matcher m = PEM_CERTIFICATE.matcher(pem);
        while (m.find()) {
            try {
                byte[] der = Base64.getMimeDecoder().decode(m.group(1).strip());
                certs.add((X509Certificate) factory.generateCertificate(new ByteArrayInputStream(der)));
            } catch (IllegalArgumentException | CertificateException e) {
                throw new IllegalArgumentException(
                        CERT + ": certificate " + (certs.size() + 1) + " does not parse: " + e.getMessage(), e);
            }
        }
        if (certs.isEmpty()) {
            throw new IllegalArgumentException(
                    CERT + " holds no PEM certificate (a -----BEGIN CERTIFICATE----- block)");
        }
        return certs;
    }

    /** Trust managers that trust the JDK's default CAs and {@code extra}. */
    private static TrustManager[] trustManagers(BackupTarget.S3 target, List<X509Certificate> extra) {
        try {
            TrustManagerFactory defaults = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            defaults.init((KeyStore) null);
            KeyStore anchors = KeyStore.getInstance("PKCS12");
            anchors.load(null, null);
            int n = 0;
            for (TrustManager tm : defaults.getTrustManagers()) {
                if (tm instanceof X509TrustManager x509) {
                    for (X509Certificate c : x509.getAcceptedIssuers()) {
                        anchors.setCertificateEntry("default-" + n++, c);
                    }
                }
            }
            for (X509Certificate c : extra) {
                anchors.setCertificateEntry("aws-cert-" + n++, c);
            }
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(anchors);
            return tmf.getTrustManagers();
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalArgumentException(
                    "S3 backup target " + target.url() + ": cannot trust the certificates of " + CERT + ": " + e, e);
        }
    }

    @Override
    public String url() {
        return url;
    }

    /** The object key of {@code path}. */
    private String key(String path) {
        if (path.isEmpty()) {
            throw new IllegalArgumentException("an empty path in the backup target " + url);
        }
        for (String segment : path.split("/", -1)) {
            if (segment.isEmpty() || segment.equals(".") || segment.equals("..")) {
                throw new IllegalArgumentException(
                        "path " + path + " is not a plain relative path in the backup target " + url);
            }
        }
        return prefix.isEmpty() ? path : prefix + "/" + path;
    }

    /** The key prefix of everything below {@code dir}, with its trailing slash ("" for a bucket's root). */
    private String dirPrefix(String dir) {
        String d = dir;
        while (d.endsWith("/")) {
            d = d.substring(0, d.length() - 1);
        }
        if (d.isEmpty()) {
            return prefix.isEmpty() ? "" : prefix + "/";
        }
        return key(d) + "/";
    }

    @Override
    public boolean exists(String path) throws IOException {
        String key = key(path);
        try {
            s3.headObject(b -> b.bucket(bucket).key(key));
            bucketSeen = true;
            return true;
        } catch (SdkException e) {
            if (isNotFound(e)) {
                checkBucket("exists " + path);
                return false;
            }
            throw failure("exists " + path, e);
        }
    }

    @Override
    public byte[] read(String path) throws IOException {
        String key = key(path);
        try {
            byte[] data = s3.getObjectAsBytes(b -> b.bucket(bucket).key(key)).asByteArrayUnsafe();
            bucketSeen = true;
            return data;
        } catch (NoSuchKeyException e) {
            throw new NoSuchFileException(path);
        } catch (SdkException e) {
            throw failure("read " + path, e);
        }
    }

    /** Writes {@code data} with one PUT, which S3 makes visible whole or not at all; do not change it meanwhile. */
    @Override
    public void write(String path, byte[] data, int length) throws IOException {
        java.util.Objects.checkFromIndexSize(0, length, data.length);
        String key = key(path);
        try {
            s3.putObject(
                    b -> b.bucket(bucket).key(key),
                    RequestBody.fromContentProvider(
                            () -> new ByteArrayInputStream(data, 0, length), length, "application/octet-stream"));
            bucketSeen = true;
        } catch (SdkException e) {
            throw failure("write " + path, e);
        }
    }

    @Override
    public List<String> list(String dir) throws IOException {
        String p = dirPrefix(dir);
        Set<String> names = new TreeSet<>();
        try {
            ListObjectsV2Request.Builder request = ListObjectsV2Request.builder()
                    .bucket(bucket)
                    .prefix(p)
                    .delimiter("/")
                    .maxKeys(pageSize);
            while (true) {
                ListObjectsV2Response page = s3.listObjectsV2(request.build());
                for (S3Object o : page.contents()) {
                    addName(names, o.key().substring(p.length()));
                }
                for (CommonPrefix cp : page.commonPrefixes()) {
                    String sub = cp.prefix().substring(p.length());
                    addName(names, sub.endsWith("/") ? sub.substring(0, sub.length() - 1) : sub);
                }
                if (!Boolean.TRUE.equals(page.isTruncated()) || page.nextContinuationToken() == null) {
                    break;
                }
                request.continuationToken(page.nextContinuationToken());
            }
        } catch (SdkException e) {
            throw failure("list " + dir, e);
        }
        bucketSeen = true;
        return List.copyOf(names);
    }

    private static void addName(Set<String> names, String name) {
        // "dir/" objects, as some tools make for directories, are not entries of their own.
        if (!name.isEmpty()) {
            names.add(name);
        }
    }

    @Override
    public List<String> listFiles(String dir) throws IOException {
        String p = dirPrefix(dir);
        List<String> files = new ArrayList<>();
        try {
            ListObjectsV2Request.Builder request =
                    ListObjectsV2Request.builder().bucket(bucket).prefix(p).maxKeys(pageSize);
            while (true) {
                ListObjectsV2Response page = s3.listObjectsV2(request.build());
                for (S3Object o : page.contents()) {
                    String name = o.key().substring(p.length());
                    if (!name.isEmpty() && !name.endsWith("/")) {
                        files.add(name);
                    }
                }
                if (!Boolean.TRUE.equals(page.isTruncated()) || page.nextContinuationToken() == null) {
                    break;
                }
                request.continuationToken(page.nextContinuationToken());
            }
        } catch (SdkException e) {
            throw failure("list files below " + dir, e);
        }
        bucketSeen = true;
        files.sort(null);
        return files;
    }

    @Override
    public Instant modified(String path) throws IOException {
        String key = key(path);
        HeadObjectResponse head;
        try {
            head = s3.headObject(b -> b.bucket(bucket).key(key));
        } catch (SdkException e) {
            if (isNotFound(e)) {
                checkBucket("modified " + path);
                throw new NoSuchFileException(path);
            }
            throw failure("modified " + path, e);
        }
        bucketSeen = true;
        if (head.lastModified() == null) {
            throw new IOException("S3 sent no Last-Modified for " + path + " in " + url);
        }
        return head.lastModified();
    }

    @Override
    public void delete(String path) throws IOException {
        String key = key(path);
        try {
            s3.deleteObject(b -> b.bucket(bucket).key(key));
        } catch (SdkException e) {
            throw failure("delete " + path, e);
        }
    }

    @Override
    public void deleteAll(String dir) throws IOException {
        String p = dirPrefix(dir);
        try {
            ListObjectsV2Request.Builder request =
                    ListObjectsV2Request.builder().bucket(bucket).prefix(p).maxKeys(pageSize);
            while (true) {
                ListObjectsV2Response page = s3.listObjectsV2(request.build());
                // A page has at most pageSize <= 1000 keys, as many as one DeleteObjects takes (a server may
                // send more than asked, though). Deleting the listed keys does not disturb the listing: the
                // continuation token resumes after the last key listed.
                List<ObjectIdentifier> keys = page.contents().stream()
                        .map(o -> ObjectIdentifier.builder().key(o.key()).build())
                        .toList();
                for (int from = 0; from < keys.size(); from += pageSize) {
                    deleteBatch(dir, keys.subList(from, Math.min(keys.size(), from + pageSize)));
                }
                if (!Boolean.TRUE.equals(page.isTruncated()) || page.nextContinuationToken() == null) {
                    break;
                }
                request.continuationToken(page.nextContinuationToken());
            }
        } catch (SdkException e) {
            throw failure("delete everything below " + dir, e);
        }
    }

    private void deleteBatch(String dir, List<ObjectIdentifier> keys) throws IOException {
        Delete delete = Delete.builder().objects(keys).quiet(true).build();
        DeleteObjectsResponse response = s3.deleteObjects(b -> b.bucket(bucket).delete(delete));
        List<S3Error> errors = response.errors().stream()
                .filter(e -> !"NoSuchKey".equals(e.code()))
                .toList();
        if (!errors.isEmpty()) {
            S3Error first = errors.getFirst();
            throw new IOException("S3 could not delete " + errors.size() + " of " + keys.size()
                    + " objects below " + dir + " in " + url + ", first " + first.key() + ": " + first.code() + " "
                    + first.message());
        }
    }

    @Override
    public void close() {
        s3.close();
    }

    private static boolean isNotFound(SdkException e) {
        return e instanceof NoSuchKeyException || (e instanceof AwsServiceException se && se.statusCode() == 404);
    }

    /**
     * After a bare 404 from a HEAD: fails if the bucket is missing, rather than taking every object for
     * absent.
     */
    private void checkBucket(String operation) throws IOException {
        if (bucketSeen) {
            return;
        }
        try {
            s3.headBucket(b -> b.bucket(bucket));
        } catch (SdkException e) {
            if (e instanceof AwsServiceException se && se.statusCode() == 404) {
                throw noSuchBucket(operation, se);
            }
            throw failure(operation, e);
        }
        bucketSeen = true;
    }

    private IOException noSuchBucket(String operation, SdkException e) {
        return new IOException(
                "bucket " + bucket + " does not exist at " + endpoint + " (" + url + ", " + operation + ")", e);
    }

    /** An exception that names the target, the operation and, as precisely as known, what went wrong. */
    private IOException failure(String operation, SdkException e) {
        if (isInterrupt(e)) {
            Thread.currentThread().interrupt();
            InterruptedIOException interrupted =
                    new InterruptedIOException("interrupted during S3 " + operation + " in " + url);
            interrupted.initCause(e);
            return interrupted;
        }
        if (e instanceof AwsServiceException se) {
            AwsErrorDetails details = se.awsErrorDetails();
            String code = details == null || details.errorCode() == null ? "" : details.errorCode();
            String answer = serviceAnswer(se);
            if (code.equals("NoSuchBucket")) {
                return noSuchBucket(operation, e);
            }
            if (se.statusCode() == 403
                    || code.equals("InvalidAccessKeyId")
                    || code.equals("SignatureDoesNotMatch")
                    || code.equals("AccessDenied")) {
                return new IOException(
                        "S3 refused the credentials for " + url + " (" + identity + ", " + operation + "): " + answer
                                + (code.equals("SignatureDoesNotMatch")
                                        ? " (is " + SECRET_ACCESS_KEY + " the right one?)"
                                        : ""),
                        e);
            }
            if (code.equals("PermanentRedirect") || code.equals("AuthorizationHeaderMalformed")) {
                return new IOException(
                        "bucket " + bucket + " of " + url + " seems to be in another region than the one asked ("
                                + operation + "): " + answer + "; name it as in s3://bucket@region/path",
                        e);
            }
            return new IOException("S3 " + operation + " in " + url + " failed: " + answer, e);
        }
        String cause = networkCause(e);
        if (cause != null) {
            return new IOException(
                    "cannot reach S3 endpoint " + endpoint + " for " + url + " (" + operation + "): " + cause, e);
        }
        if (causeOf(e, SocketTimeoutException.class) != null) {
            return new IOException(
                    "S3 endpoint " + endpoint + " did not answer within " + SOCKET_TIMEOUT.toSeconds() + " s for " + url
                            + " (" + operation + ")",
                    e);
        }
        SSLException tls = causeOf(e, SSLException.class);
        if (tls != null) {
            return new IOException(
                    "TLS with S3 endpoint " + endpoint + " failed for " + url + " (" + operation + "): "
                            + tls.getMessage() + "; for a private CA, set " + CERT + " to its PEM certificate",
                    e);
        }
        return new IOException("S3 " + operation + " in " + url + " at " + endpoint + " failed: " + e.getMessage(), e);
    }

    /** What the service answered: the HTTP status, the S3 error code and message when there is a body. */
    private static String serviceAnswer(AwsServiceException e) {
        StringBuilder b = new StringBuilder("HTTP ").append(e.statusCode());
        AwsErrorDetails details = e.awsErrorDetails();
        if (details != null && details.errorCode() != null) {
            b.append(' ').append(details.errorCode());
        }
        if (details != null && details.errorMessage() != null) {
            b.append(": ").append(details.errorMessage());
        }
        return b.toString();
    }

    /** Why the endpoint could not be reached, or null if it could. */
    private static String networkCause(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof ConnectTimeoutException) {
                return "connect timed out";
            }
            if (t instanceof ConnectException) {
                String m = String.valueOf(t.getMessage());
                return m.toLowerCase(Locale.ROOT).contains("refused") ? "connection refused" : m;
            }
            if (t instanceof NoRouteToHostException) {
                return "no route to host";
            }
            if (t instanceof UnknownHostException) {
                return "unknown host " + t.getMessage();
            }
        }
        return null;
    }

    private static boolean isInterrupt(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof AbortedException || t instanceof InterruptedException) {
                return true;
            }
        }
        return false;
    }

    private static <T extends Throwable> T causeOf(Throwable e, Class<T> type) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (type.isInstance(t)) {
                return type.cast(t);
            }
        }
        return null;
    }

    @Override
    public String toString() {
        return "S3Store[" + url + " at " + endpoint + "]";
    }
}
