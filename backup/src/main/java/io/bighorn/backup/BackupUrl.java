package io.bighorn.backup;

import java.net.URLDecoder;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;

/**
 * A URL naming one backup (or, without {@code backup}, one backup volume), as Longhorn forms it: the
 * target's URL plus {@code ?backup=<name>&volume=<volume>}.
 */
public record BackupUrl(String target, String volume, String backup) {
    public BackupUrl {
        Layout.checkName("volume", volume);
        if (backup != null) {
            Layout.checkName("backup", backup);
        }
    }

    public static BackupUrl parse(String url) {
        int q = url.indexOf('?');
        if (q < 0) {
            throw new IllegalArgumentException(
                    "backup URL " + url + " names no backup: expected TARGET?backup=NAME&volume=VOLUME");
        }
        String volume = null;
        String backup = null;
        for (String kv : url.substring(q + 1).split("&", -1)) {
            int eq = kv.indexOf('=');
            String k = eq < 0 ? kv : kv.substring(0, eq);
            String v = eq < 0 ? "" : URLDecoder.decode(kv.substring(eq + 1), StandardCharsets.UTF_8);
            if (k.equals("volume")) {
                volume = v;
            } else if (k.equals("backup")) {
                backup = v;
            }
        }
        if (volume == null) {
            throw new IllegalArgumentException("backup URL " + url + " names no volume (…&volume=VOLUME)");
        }
        return new BackupUrl(url.substring(0, q), volume, backup == null || backup.isEmpty() ? null : backup);
    }

    /** As Longhorn's EncodeConfigURL writes it: parameters sorted by name. */
    @Override
    public String toString() {
        StringBuilder s = new StringBuilder(target).append('?');
        if (backup != null) {
            s.append("backup=")
                    .append(URLEncoder.encode(backup, StandardCharsets.UTF_8))
                    .append('&');
        }
        return s.append("volume=")
                .append(URLEncoder.encode(volume, StandardCharsets.UTF_8))
                .toString();
    }
}
