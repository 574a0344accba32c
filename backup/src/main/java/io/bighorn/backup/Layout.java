package io.bighorn.backup;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.regex.Pattern;

/**
 * Where things live in a backup target, as Longhorn's backupstore lays them out:
 *
 * <pre>
 * backupstore/volumes/&lt;H(vol)[0:2]&gt;/&lt;H(vol)[2:4]&gt;/&lt;vol&gt;/
 *     volume.cfg
 *     backups/backup_&lt;backup&gt;.cfg
 *     blocks/&lt;c[0:2]&gt;/&lt;c[2:4]&gt;/&lt;c&gt;.blk      c = H(uncompressed block)
 *     locks/&lt;lock&gt;.lck
 * </pre>
 *
 * where {@code H(x)} is the first 64 hex digits of SHA-512(x).
 */
final class Layout {
    static final String VOLUMES = "backupstore/volumes";
    static final String BACKUP_PREFIX = "backup_";
    static final String CFG = ".cfg";
    static final String BLOCK_SUFFIX = ".blk";
    static final String LOCK_SUFFIX = ".lck";
    /** Longhorn's name rule for volumes and backups (backupstore util.ValidateName). */
    private static final Pattern NAME = Pattern.compile("[a-zA-Z0-9][a-zA-Z0-9_.-]+");

    private static final Pattern CHECKSUM = Pattern.compile("[0-9a-f]{64}");

    private Layout() {}

    /** The first 64 hex digits of the SHA-512 of {@code data}. */
    static String hash(byte[] data, int offset, int length) {
        MessageDigest sha = sha512();
        sha.update(data, offset, length);
        return HexFormat.of().formatHex(sha.digest(), 0, 32);
    }

    private static final byte[] ZEROS = new byte[BackupOptions.LARGE_BLOCK_SIZE];
    private static final String ZERO_SMALL = hash(ZEROS, 0, BackupOptions.DEFAULT_BLOCK_SIZE);
    private static final String ZERO_LARGE = hash(ZEROS, 0, BackupOptions.LARGE_BLOCK_SIZE);

    /** {@link #hash} of a block, with all-zero blocks (common, and cheap to recognise) answered from a table. */
    static String blockHash(byte[] data, int length) {
        if ((length == BackupOptions.DEFAULT_BLOCK_SIZE || length == BackupOptions.LARGE_BLOCK_SIZE)
                && java.util.Arrays.mismatch(data, 0, length, ZEROS, 0, length) < 0) {
            return length == BackupOptions.DEFAULT_BLOCK_SIZE ? ZERO_SMALL : ZERO_LARGE;
        }
        return hash(data, 0, length);
    }

    static String hash(String text) {
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        return hash(b, 0, b.length);
    }

    static MessageDigest sha512() {
        try {
            return MessageDigest.getInstance("SHA-512");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK has no SHA-512", e);
        }
    }

    static boolean validName(String name) {
        return name != null && NAME.matcher(name).matches();
    }

    static String checkName(String what, String name) {
        if (!validName(name)) {
            throw new IllegalArgumentException("invalid " + what + " name '" + name
                    + "': letters, digits, '_', '.' and '-', starting with a letter or digit, at least 2 long");
        }
        return name;
    }

    static boolean validChecksum(String c) {
        return c != null && CHECKSUM.matcher(c).matches();
    }

    static String volumeDir(String volume) {
        String h = hash(volume);
        return VOLUMES + "/" + h.substring(0, 2) + "/" + h.substring(2, 4) + "/" + volume;
    }

    static String volumeCfg(String volume) {
        return volumeDir(volume) + "/volume.cfg";
    }

    static String backupsDir(String volume) {
        return volumeDir(volume) + "/backups";
    }

    static String backupCfg(String volume, String backup) {
        return backupsDir(volume) + "/" + BACKUP_PREFIX + backup + CFG;
    }

    /** The backup named by a file in the backups directory, or null if the file is not a backup cfg. */
    static String backupOfFile(String fileName) {
        if (fileName.startsWith(BACKUP_PREFIX) && fileName.endsWith(CFG)) {
            return fileName.substring(BACKUP_PREFIX.length(), fileName.length() - CFG.length());
        }
        return null;
    }

    static String blocksDir(String volume) {
        return volumeDir(volume) + "/blocks";
    }

    static String block(String volume, String checksum) {
        return blocksDir(volume) + "/" + blockFile(checksum);
    }

    /** A block's path below the blocks directory. */
    static String blockFile(String checksum) {
        return checksum.substring(0, 2) + "/" + checksum.substring(2, 4) + "/" + checksum + BLOCK_SUFFIX;
    }

    static String locksDir(String volume) {
        return volumeDir(volume) + "/locks";
    }
}
