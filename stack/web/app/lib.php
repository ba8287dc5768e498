<?php
// Shared pieces of the students CRUD: configuration from the environment and Docker secrets, the
// database connection, output escaping, CSRF tokens and the page layout.
declare(strict_types=1);

/** A setting from NAME, or from the file named by NAME_FILE (a Docker secret). */
function setting(string $name, ?string $default = null): ?string
{
    $file = getenv($name . '_FILE');
    if ($file !== false && $file !== '') {
        $value = @file_get_contents($file);
        if ($value === false) {
            throw new RuntimeException("cannot read $name" . "_FILE ($file)");
        }
        return rtrim($value, "\r\n");
    }
    $value = getenv($name);
    return ($value === false || $value === '') ? $default : $value;
}

function db(): PDO
{
    static $pdo = null;
    if ($pdo === null) {
        $dsn = sprintf('mysql:host=%s;port=%s;dbname=%s;charset=utf8mb4',
            setting('DB_HOST', 'db'), setting('DB_PORT', '3306'), setting('DB_NAME', 'school'));
        $pdo = new PDO($dsn, setting('DB_USER', 'school'), setting('DB_PASSWORD', ''), [
            PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
            PDO::ATTR_DEFAULT_FETCH_MODE => PDO::FETCH_ASSOC,
            PDO::ATTR_EMULATE_PREPARES => false,
            PDO::ATTR_TIMEOUT => 5,
        ]);
    }
    return $pdo;
}

function e(?string $s): string
{
    return htmlspecialchars((string)$s, ENT_QUOTES | ENT_SUBSTITUTE, 'UTF-8');
}

// CSRF: a signed double-submit cookie. Replicas share no sessions (the proxy balances every request
// anew), so the token is <nonce>.<HMAC(nonce)> with a key every replica derives from the same
// secret; a form must send back the cookie's value, and the signature must hold.
function csrf_key(): string
{
    return hash('sha256', 'students-csrf:' . (setting('CSRF_KEY') ?? setting('DB_PASSWORD', '')), true);
}

function csrf_token(): string
{
    static $token = null;
    if ($token !== null) {
        return $token;
    }
    $cookie = $_COOKIE['csrf_token'] ?? '';
    if (is_string($cookie) && csrf_signed($cookie)) {
        return $token = $cookie;
    }
    $nonce = bin2hex(random_bytes(16));
    $token = $nonce . '.' . hash_hmac('sha256', $nonce, csrf_key());
    setcookie('csrf_token', $token, ['path' => '/', 'httponly' => true, 'samesite' => 'Strict',
        'secure' => ($_SERVER['HTTP_X_FORWARDED_PROTO'] ?? '') === 'https']);
    return $token;
}

function csrf_signed(string $token): bool
{
    $parts = explode('.', $token);
    return count($parts) === 2 && hash_equals(hash_hmac('sha256', $parts[0], csrf_key()), $parts[1]);
}

function csrf_check(): void
{
    $sent = $_POST['csrf_token'] ?? '';
    $cookie = $_COOKIE['csrf_token'] ?? '';
    if (!is_string($sent) || !is_string($cookie) || $sent === '' || !hash_equals($cookie, $sent)
        || !csrf_signed($sent)) {
        http_response_code(403);
        page('Forbidden', '<p class="error">The form has expired or did not come from this site. '
            . '<a href="./">Back to the list</a> and try again.</p>');
        exit;
    }
}

function page(string $title, string $body): void
{
    header('Content-Type: text/html; charset=utf-8');
    header("Content-Security-Policy: default-src 'self'; style-src 'self' 'unsafe-inline'");
    header('X-Content-Type-Options: nosniff');
    echo '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>', e($title),
        ' · Students</title><style>body{font-family:sans-serif;max-width:50em;margin:2em auto}',
        'table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ccc;padding:.3em;text-align:left}',
        '.error{color:#a00}.ok{color:#060}form.inline{display:inline}label{display:block;margin:.5em 0}',
        'footer{margin-top:2em;color:#666;font-size:.9em}</style></head><body>',
        '<h1><a href="./">Students</a></h1><h2>', e($title), '</h2>', $body,
        '<footer>Served by <span id="hostname">', e(gethostname() ?: 'unknown'), '</span></footer>',
        '</body></html>';
}

/** Validates a submitted student; returns [clean values, errors by field]. */
function validate_student(array $in): array
{
    $v = [];
    $errors = [];
    foreach (['first_name' => 'First name', 'last_name' => 'Last name'] as $field => $label) {
        $v[$field] = trim((string)($in[$field] ?? ''));
        if ($v[$field] === '') {
            $errors[$field] = "$label is required.";
        } elseif (!preg_match('/^.{1,100}$/us', $v[$field])) {
            $errors[$field] = "$label must be at most 100 characters.";
        }
    }
    $v['email'] = trim((string)($in['email'] ?? ''));
    if (!filter_var($v['email'], FILTER_VALIDATE_EMAIL) || strlen($v['email']) > 255) {
        $errors['email'] = 'Email must be a valid address.';
    }
    $v['course'] = trim((string)($in['course'] ?? ''));
    if (!preg_match('/^.{0,100}$/us', $v['course'])) {
        $errors['course'] = 'Course must be at most 100 characters.';
    }
    return [$v, $errors];
}

/** Runs an INSERT/UPDATE; a duplicate email becomes a validation error instead of a failure. */
function save_student(string $sql, array $params, array &$errors): bool
{
    try {
        db()->prepare($sql)->execute($params);
        return true;
    } catch (PDOException $ex) {
        if (($ex->errorInfo[1] ?? 0) === 1062) {  // ER_DUP_ENTRY on the unique email
            $errors['email'] = 'Another student already has this email.';
            return false;
        }
        throw $ex;
    }
}
