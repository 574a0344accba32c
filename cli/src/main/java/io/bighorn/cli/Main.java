package io.bighorn.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Properties;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine.Spec;

/** The {@code bighorn} command: entry point of the distribution jar. */
@Command(
        name = "bighorn",
        description = "Bighorn: replicated block storage.",
        mixinStandardHelpOptions = true,
        versionProvider = Main.Version.class,
        // Subcommands inherit --help/--version and the version provider.
        scope = ScopeType.INHERIT,
        subcommands = {
            ServerCommand.class,
            AgentCommand.class,
            ReplicaCommand.class,
            EngineCommand.class,
            CtlCommand.class,
            BackupCommand.class,
            VolumeCommand.class,
            SnapshotCommand.class,
            NodeCommand.class,
            SettingCommand.class
        })
public final class Main implements Runnable {

    @Spec
    CommandSpec spec;

    public static void main(String[] args) {
        System.exit(execute(args));
    }

    /** Runs the command line and returns its exit code (0 ok, 1 failure, 2 usage error). */
    static int execute(String... args) {
        return commandLine().execute(args);
    }

    static CommandLine commandLine() {
        return new CommandLine(new Main()).setExecutionExceptionHandler((e, cl, parsed) -> {
            // a failed command says what went wrong in one line; the stack trace is for debugging only
            cl.getErr().println("bighorn: " + (e.getMessage() == null ? e.toString() : e.getMessage()));
            if (Boolean.getBoolean("bighorn.debug")) {
                e.printStackTrace(cl.getErr());
            }
            return 1;
        });
    }

    @Override
    public void run() {
        throw new ParameterException(spec.commandLine(), "Missing required subcommand");
    }

    /** Version from the build ({@code version.properties}, filtered by Maven) plus the running JVM. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {
                "bighorn " + projectVersion(),
                "JVM: ${java.version} (${java.vendor} ${java.vm.name} ${java.vm.version})",
                "OS: ${os.name} ${os.version} ${os.arch}"
            };
        }

        static String projectVersion() {
            try (InputStream in = Main.class.getResourceAsStream("version.properties")) {
                if (in == null) {
                    return "unknown";
                }
                Properties properties = new Properties();
                properties.load(in);
                return properties.getProperty("version", "unknown");
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }
}
