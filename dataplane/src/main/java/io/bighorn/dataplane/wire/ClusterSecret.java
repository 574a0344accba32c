package io.bighorn.dataplane.wire;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

/**
 * The secret every engine and replica of a cluster shares; peers prove they hold it without sending it
 * (see {@code Handshake}). Read from a file ({@code --secret-file}) or the {@value #ENV} environment
 * variable; surrounding whitespace (a trailing newline) is not part of it.
 */
public final class ClusterSecret {
    /** The environment variable that holds the secret when no file is given. */
    public static final String ENV = "BIGHORN_SECRET";

    private final byte[] key;

    private ClusterSecret(byte[] key) {
        this.key = key;
    }

    /** A secret from its text. */
    public static ClusterSecret of(String secret) {
        String s = secret.strip();
        if (s.isEmpty()) {
            throw new IllegalArgumentException("the cluster secret is empty");
        }
        return new ClusterSecret(s.getBytes(StandardCharsets.UTF_8));
    }

    /** The secret in {@code file}, which must exist, be readable and hold a non-empty secret. */
    public static ClusterSecret fromFile(Path file) throws IOException {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new IOException("secret file " + file + " does not exist", e);
        } catch (IOException e) {
            throw new IOException("cannot read secret file " + file + ": " + e, e);
        }
        if (text.isBlank()) {
            throw new IOException("secret file " + file + " is empty");
        }
        return of(text);
    }

    /** From {@code file} when given, else from {@value #ENV} in {@code env}. */
    public static ClusterSecret resolve(Path file, Map<String, String> env) throws IOException {
        if (file != null) {
            return fromFile(file);
        }
        String value = env.get(ENV);
        if (value == null) {
            throw new IOException("no cluster secret: pass --secret-file FILE or set " + ENV);
        }
        if (value.isBlank()) {
            throw new IOException(ENV + " is empty");
        }
        return of(value);
    }

    byte[] key() {
        return key.clone();
    }

    /**
     * A value derived from the secret for one purpose (hex HMAC-SHA256 of {@code purpose} under the secret):
     * a token peers can check without the secret itself ever travelling.
     */
    public String derive(String purpose) {
        try {
            javax.crypto.Mac mac = javax.crypto.Mac.getInstance("HmacSHA256");
            mac.init(new javax.crypto.spec.SecretKeySpec(key, "HmacSHA256"));
            return java.util.HexFormat.of().formatHex(mac.doFinal(purpose.getBytes(StandardCharsets.UTF_8)));
        } catch (java.security.GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is part of every JDK", e);
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ClusterSecret other && Arrays.equals(key, other.key);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(key);
    }

    /** Never the secret itself. */
    @Override
    public String toString() {
        return "ClusterSecret[redacted]";
    }
}
