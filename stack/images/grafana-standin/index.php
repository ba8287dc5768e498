<?php
// Grafana stand-in (see Dockerfile).
$path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);
function files_under(string $dir): array
{
    $out = [];
    if (!is_dir($dir)) {
        return $out;
    }
    $it = new RecursiveIteratorIterator(new RecursiveDirectoryIterator($dir, FilesystemIterator::SKIP_DOTS));
    foreach ($it as $f) {
        $out[substr($f->getPathname(), strlen($dir) + 1)] = file_get_contents($f->getPathname());
    }
    ksort($out);
    return $out;
}
switch ($path) {
    case '/api/health':
        header('Content-Type: application/json');
        echo json_encode(['database' => 'ok', 'version' => 'stand-in']);
        break;
    case '/metrics':
        header('Content-Type: text/plain; version=0.0.4');
        echo "# TYPE grafana_standin_up gauge\ngrafana_standin_up 1\n";
        break;
    case '/standin/provisioning':
        header('Content-Type: application/json');
        $secret = getenv('GF_SECURITY_ADMIN_PASSWORD__FILE');
        echo json_encode([
            'provisioning' => files_under(getenv('GF_PATHS_PROVISIONING') ?: '/etc/grafana/provisioning'),
            'dashboards' => array_keys(files_under('/etc/grafana/dashboards')),
            'admin_password_file_readable' => $secret !== false && is_readable($secret)
                && trim((string)file_get_contents($secret)) !== '',
            'root_url' => getenv('GF_SERVER_ROOT_URL'),
        ], JSON_PRETTY_PRINT);
        break;
    default:
        header('Content-Type: text/html');
        echo '<!doctype html><title>Grafana (stand-in)</title><p>Grafana stand-in on ', htmlspecialchars(gethostname()), '</p>';
}
