namespace LoadBalancer.Cli.Yaml;

/// <summary>
/// A manifest the CLI refuses before anything is sent: the message already names the file,
/// the document and the field, so the caller prints it as is.
/// </summary>
internal sealed class ManifestException(string message, Exception? inner = null) : Exception(message, inner);
