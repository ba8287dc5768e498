<?php
// The official image's variables: which server to log in to, and the public URL (behind the proxy).
$cfg['Servers'][1]['host'] = getenv('PMA_HOST') ?: 'db';
$cfg['Servers'][1]['port'] = getenv('PMA_PORT') ?: '3306';
$cfg['Servers'][1]['auth_type'] = 'cookie';
$cfg['Servers'][1]['AllowNoPassword'] = false;
if (getenv('PMA_ABSOLUTE_URI')) {
    $cfg['PmaAbsoluteUri'] = getenv('PMA_ABSOLUTE_URI');
}
