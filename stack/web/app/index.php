<?php
// The students list: list, create, edit and delete. Every query is a prepared statement, every
// output is escaped, every form carries a CSRF token.
declare(strict_types=1);
require __DIR__ . '/lib.php';

$action = $_GET['action'] ?? 'list';
$method = $_SERVER['REQUEST_METHOD'];

function student_form(string $action, array $v, array $errors, ?int $id = null): string
{
    $target = './?action=' . $action . ($id !== null ? '&id=' . $id : '');
    $html = '<form method="post" action="' . e($target) . '">'
        . '<input type="hidden" name="csrf_token" value="' . e(csrf_token()) . '">';
    foreach (['first_name' => 'First name', 'last_name' => 'Last name', 'email' => 'Email',
              'course' => 'Course'] as $field => $label) {
        $html .= '<label>' . e($label) . ' <input name="' . $field . '" value="' . e($v[$field] ?? '')
            . '"' . ($field === 'email' ? ' type="email"' : '') . '></label>';
        if (isset($errors[$field])) {
            $html .= '<p class="error" data-field="' . $field . '">' . e($errors[$field]) . '</p>';
        }
    }
    return $html . '<button type="submit">Save</button> <a href="./">Cancel</a></form>';
}

function find_student(int $id): ?array
{
    $st = db()->prepare('SELECT id, first_name, last_name, email, course FROM students WHERE id = ?');
    $st->execute([$id]);
    $row = $st->fetch();
    return $row === false ? null : $row;
}

function not_found(): void
{
    http_response_code(404);
    page('Not found', '<p class="error">No such student. <a href="./">Back to the list</a></p>');
}

try {
    $id = isset($_GET['id']) ? filter_var($_GET['id'], FILTER_VALIDATE_INT) : null;
    switch ($action) {
        case 'create':
            if ($method === 'POST') {
                csrf_check();
                [$v, $errors] = validate_student($_POST);
                if (!$errors && save_student('INSERT INTO students (first_name, last_name, email, course) VALUES (?, ?, ?, ?)',
                        [$v['first_name'], $v['last_name'], $v['email'], $v['course']], $errors)) {
                    header('Location: ./?done=created&id=' . db()->lastInsertId(), true, 303);
                    exit;
                }
                http_response_code(422);
                page('Add a student', student_form('create', $v, $errors));
            } else {
                page('Add a student', student_form('create', [], []));
            }
            break;
        case 'edit':
            if (!is_int($id) || !($student = find_student($id))) {
                not_found();
                break;
            }
            if ($method === 'POST') {
                csrf_check();
                [$v, $errors] = validate_student($_POST);
                if (!$errors && save_student('UPDATE students SET first_name = ?, last_name = ?, email = ?, course = ? WHERE id = ?',
                        [$v['first_name'], $v['last_name'], $v['email'], $v['course'], $id], $errors)) {
                    header('Location: ./?done=updated&id=' . $id, true, 303);
                    exit;
                }
                http_response_code(422);
                page('Edit a student', student_form('edit', $v, $errors, $id));
            } else {
                page('Edit a student', student_form('edit', $student, [], $id));
            }
            break;
        case 'delete':
            if ($method !== 'POST') {
                http_response_code(405);
                header('Allow: POST');
                page('Method not allowed', '<p class="error">Delete with the form on the list.</p>');
                break;
            }
            csrf_check();
            $id = filter_var($_POST['id'] ?? '', FILTER_VALIDATE_INT);
            if (!is_int($id) || !find_student($id)) {
                not_found();
                break;
            }
            db()->prepare('DELETE FROM students WHERE id = ?')->execute([$id]);
            header('Location: ./?done=deleted&id=' . $id, true, 303);
            exit;
        default:
            $notice = ['created' => 'Student added.', 'updated' => 'Student updated.',
                       'deleted' => 'Student deleted.'][$_GET['done'] ?? ''] ?? '';
            $rows = db()->query('SELECT id, first_name, last_name, email, course FROM students ORDER BY last_name, first_name, id')->fetchAll();
            $html = $notice !== '' ? '<p class="ok">' . e($notice) . '</p>' : '';
            $html .= '<p><a href="./?action=create">Add a student</a></p>';
            if (!$rows) {
                $html .= '<p>No students yet.</p>';
            } else {
                $html .= '<table><thead><tr><th>Name</th><th>Email</th><th>Course</th><th></th></tr></thead><tbody>';
                foreach ($rows as $r) {
                    $html .= '<tr data-id="' . (int)$r['id'] . '"><td>' . e($r['first_name'] . ' ' . $r['last_name'])
                        . '</td><td>' . e($r['email']) . '</td><td>' . e($r['course']) . '</td><td>'
                        . '<a href="./?action=edit&amp;id=' . (int)$r['id'] . '">Edit</a> '
                        . '<form class="inline" method="post" action="./?action=delete">'
                        . '<input type="hidden" name="csrf_token" value="' . e(csrf_token()) . '">'
                        . '<input type="hidden" name="id" value="' . (int)$r['id'] . '">'
                        . '<button type="submit">Delete</button></form></td></tr>';
                }
                $html .= '</tbody></table>';
            }
            page('All students', $html);
    }
} catch (PDOException $ex) {
    error_log('students: database error: ' . $ex->getMessage());
    http_response_code(503);
    page('Unavailable', '<p class="error">The database is not available right now. Try again shortly.</p>');
}
