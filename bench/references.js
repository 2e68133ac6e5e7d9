// The reference load balancers' configs, as close to msup's setup as they allow: nginx with one worker
// and upstream keep-alive (stream module for TCP), HAProxy with one thread and connection reuse.

export const NGINX_STREAM = '/usr/lib/nginx/modules/ngx_stream_module.so';

export const nginxConf = (tmp, port, backends, mode) => `
${mode === 'tcp' ? `load_module ${NGINX_STREAM};` : ''}
worker_processes 1;
daemon off;
master_process on;
pid ${tmp}/nginx-${port}.pid;
error_log ${tmp}/nginx-error.log;
events { worker_connections 4096; }
${
  mode === 'tcp'
    ? `stream {
  upstream b { ${backends.map((p) => `server 127.0.0.1:${p};`).join(' ')} }
  server { listen 127.0.0.1:${port}; proxy_pass b; }
}`
    : `http {
  access_log off;
  client_body_temp_path ${tmp}/body; proxy_temp_path ${tmp}/proxy; fastcgi_temp_path ${tmp}/fcgi;
  uwsgi_temp_path ${tmp}/uwsgi; scgi_temp_path ${tmp}/scgi;
  upstream b { ${backends.map((p) => `server 127.0.0.1:${p};`).join(' ')} keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location / { proxy_pass http://b; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}`
}`;

export const haproxyConf = (port, backends, mode) => `
global
  nbthread 1
  maxconn 4096
defaults
  mode ${mode}
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  ${mode === 'http' ? 'option http-keep-alive\n  http-reuse always' : ''}
frontend f
  bind 127.0.0.1:${port}
  default_backend b
backend b
  balance roundrobin
${backends.map((p, i) => `  server s${i} 127.0.0.1:${p}`).join('\n')}
`;
