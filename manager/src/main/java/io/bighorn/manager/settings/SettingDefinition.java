package io.bighorn.manager.settings;

import java.util.List;

/**
 * What a setting is: its Longhorn name, meaning, type, default and allowed values.
 *
 * @param options the allowed values of an enum setting; empty otherwise
 * @param min the smallest value of an integer setting
 * @param max the largest value of an integer setting
 */
public record SettingDefinition(
        String name,
        String category,
        String description,
        Type type,
        String defaultValue,
        List<String> options,
        long min,
        long max) {

    public enum Type {
        INT,
        BOOL,
        STRING,
        ENUM
    }

    /**
     * Returns the value normalised ("True" → "true", " 5 " → "5") if it is valid.
     *
     * @throws IllegalArgumentException naming the setting, the value and what is allowed
     */
    public String validate(String value) {
        if (value == null) {
            throw new IllegalArgumentException("setting " + name + " needs a value");
        }
        String v = value.strip();
        switch (type) {
            case INT -> {
                long n;
                try {
                    n = Long.parseLong(v);
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("setting " + name + " must be an integer from " + min + " to "
                            + max + ", not '" + value + "'");
                }
                if (n < min || n > max) {
                    throw new IllegalArgumentException(
                            "setting " + name + " must be from " + min + " to " + max + ", not " + n);
                }
                return Long.toString(n);
            }
            case BOOL -> {
                if (!v.equalsIgnoreCase("true") && !v.equalsIgnoreCase("false")) {
                    throw new IllegalArgumentException(
                            "setting " + name + " must be true or false, not '" + value + "'");
                }
                return v.toLowerCase(java.util.Locale.ROOT);
            }
            case ENUM -> {
                if (!options.contains(v)) {
                    throw new IllegalArgumentException("setting " + name + " must be one of "
                            + String.join(", ", options) + ", not '" + value + "'");
                }
                return v;
            }
            case STRING -> {
                return v;
            }
        }
        throw new AssertionError(type);
    }
}
