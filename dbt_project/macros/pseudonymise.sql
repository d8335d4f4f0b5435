{#- Keyed hash of a person's identity (the LMS user id, or a normalised email for
    credential recipients without an LMS account). The key comes from
    SKILLPATH_PSEUDONYM_KEY; the same key gives the same learner id everywhere. -#}
{% macro pseudonymise(expr) -%}
    {{ return(adapter.dispatch('pseudonymise', 'skillpath')(expr)) }}
{%- endmacro %}

{% macro default__pseudonymise(expr) -%}
    substr(sha256(concat('{{ env_var("SKILLPATH_PSEUDONYM_KEY") }}', '|', {{ expr }})), 1, 24)
{%- endmacro %}

{% macro spark__pseudonymise(expr) -%}
    substr(sha2(concat('{{ env_var("SKILLPATH_PSEUDONYM_KEY") }}', '|', {{ expr }}), 256), 1, 24)
{%- endmacro %}

{#- sha1 hex of a string (xAPI mbox_sha1sum) -#}
{% macro sha1_hex(expr) -%}
    {{ return(adapter.dispatch('sha1_hex', 'skillpath')(expr)) }}
{%- endmacro %}
{% macro default__sha1_hex(expr) -%} sha1({{ expr }}) {%- endmacro %}
{% macro spark__sha1_hex(expr) -%} sha1({{ expr }}) {%- endmacro %}

{#- sha256 hex of a string (salted recipient hashes of Open Badges) -#}
{% macro sha256_hex(expr) -%}
    {{ return(adapter.dispatch('sha256_hex', 'skillpath')(expr)) }}
{%- endmacro %}
{% macro default__sha256_hex(expr) -%} sha256({{ expr }}) {%- endmacro %}
{% macro spark__sha256_hex(expr) -%} sha2({{ expr }}, 256) {%- endmacro %}
