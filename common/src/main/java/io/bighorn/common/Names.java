package io.bighorn.common;

import java.util.regex.Pattern;

/** Validation of the names users give to volumes, snapshots and other objects. */
public final class Names {
    /** What a volume or snapshot name may be: lowercase letters, digits, '.', '_' and '-', 1 to 63 long. */
    public static final Pattern NAME = Pattern.compile("[a-z0-9][a-z0-9._-]{0,62}");

    private Names() {}

    /**
     * Returns {@code name} if it is a valid name.
     *
     * @param what what the name is for, used in the message ("snapshot name", "volume name")
     * @throws IllegalArgumentException naming the bad value and the rule
     */
    public static String require(String what, String name) {
        if (name == null || !NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("invalid " + what + " '" + name
                    + "': use 1 to 63 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit");
        }
        return name;
    }
}
