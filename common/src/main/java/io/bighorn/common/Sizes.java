package io.bighorn.common;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Parses and formats sizes in bytes. All units are binary (powers of 1024).
 *
 * <p>{@link #parse(String)} accepts a non-negative number, optionally followed by whitespace and a unit:
 * none or {@code B} (bytes), or {@code K M G T P E}, each optionally followed by {@code i} and then
 * optionally {@code B} ({@code 10G}, {@code 10Gi} and {@code 10GiB} are all 10 × 2<sup>30</sup>). Unit
 * letters are case-insensitive. A decimal fraction is allowed when the result is a whole number of bytes
 * ({@code 1.5K} is 1536). {@link #format(long)} produces the form {@code 10 GiB}; output without a fraction
 * always parses back to the same size.
 */
public final class Sizes {
    public static final long KIB = 1L << 10;
    public static final long MIB = 1L << 20;
    public static final long GIB = 1L << 30;
    public static final long TIB = 1L << 40;
    public static final long PIB = 1L << 50;
    public static final long EIB = 1L << 60;

    /** Unit letters in increasing order; index + 1 is the power of 1024. */
    private static final String PREFIXES = "KMGTPE";

    private static final Pattern SIZE =
            Pattern.compile("([0-9]+(?:\\.[0-9]+)?)\\s*(?:([KMGTPE])(?:I?B?)|B)?", Pattern.CASE_INSENSITIVE);

    private Sizes() {}

    /**
     * Parses a size such as {@code 4096}, {@code 4K}, {@code 10Gi}, {@code 10 GiB} or {@code 1.5M}.
     *
     * @throws IllegalArgumentException if the input is null, blank, malformed, negative, not a whole
     *     number of bytes, or larger than {@link Long#MAX_VALUE}; the message names the input
     */
    public static long parse(String input) {
        if (input == null) {
            throw new IllegalArgumentException("invalid size: null");
        }
        Matcher m = SIZE.matcher(input.strip());
        if (!m.matches()) {
            throw new IllegalArgumentException("invalid size '" + input
                    + "': expected a number of bytes, optionally with a binary unit (K, Ki, KiB, M, G, T, ...)");
        }
        BigDecimal number = new BigDecimal(m.group(1));
        String prefix = m.group(2);
        int power = prefix == null ? 0 : PREFIXES.indexOf(prefix.toUpperCase(Locale.ROOT)) + 1;
        BigDecimal bytes = number.multiply(BigDecimal.valueOf(1L << (10 * power)));
        try {
            return bytes.longValueExact();
        } catch (ArithmeticException e) {
            boolean whole = bytes.stripTrailingZeros().scale() <= 0;
            throw new IllegalArgumentException(
                    "invalid size '" + input + "': "
                            + (whole ? "larger than " + Long.MAX_VALUE + " bytes" : "not a whole number of bytes"),
                    e);
        }
    }

    /**
     * Formats a size with the largest binary unit that fits: {@code 512 B}, {@code 4 KiB}, {@code 10 GiB},
     * {@code 1.5 MiB}. A whole number is always exact. A size that is not a whole number of that unit shows a
     * fraction truncated to at most two decimals, so it never overstates the size ({@code 1.0 KiB} for 1025
     * bytes, {@code 1023.99 KiB} for 1 MiB - 1).
     *
     * @throws IllegalArgumentException if {@code bytes} is negative
     */
    public static String format(long bytes) {
        if (bytes < 0) {
            throw new IllegalArgumentException("invalid size " + bytes + ": negative");
        }
        int power = 0;
        while (power < PREFIXES.length() && bytes >= 1L << (10 * (power + 1))) {
            power++;
        }
        if (power == 0) {
            return bytes + " B";
        }
        long unit = 1L << (10 * power);
        if (bytes % unit == 0) {
            return (bytes / unit) + " " + unitName(power);
        }
        // Truncate, never round up, and keep one decimal: a whole number always means an exact size.
        BigDecimal value = BigDecimal.valueOf(bytes)
                .divide(BigDecimal.valueOf(unit), 2, RoundingMode.DOWN)
                .stripTrailingZeros();
        if (value.scale() < 1) {
            value = value.setScale(1, RoundingMode.UNNECESSARY);
        }
        return value.toPlainString() + " " + unitName(power);
    }

    private static String unitName(int power) {
        return PREFIXES.charAt(power - 1) + "iB";
    }
}
