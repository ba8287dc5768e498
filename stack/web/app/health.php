<?php
// Liveness for the container healthcheck: PHP answers. With ?db=1 it also checks the database.
declare(strict_types=1);
require __DIR__ . '/lib.php';
header('Content-Type: text/plain');
if (isset($_GET['db'])) {
    try {
        db()->query('SELECT 1');
    } catch (Throwable $ex) {
        http_response_code(503);
        echo "database: unavailable\n";
        exit;
    }
    echo "database: ok\n";
}
echo 'ok ', gethostname(), "\n";
