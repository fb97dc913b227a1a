# Fetches a realm access token with the password grant of the public `portal` client and
# prints it. The PowerShell counterpart of realm-token.sh, corrected from the script our users
# already have: the -Body hash table is closed, the token is read from the parsed JSON
# response, and the plain-text password is cleared afterwards.
#
#   .\realm-token.ps1
#   $token = .\realm-token.ps1
#
# Enter the realm as its base URL, {public_url}/realms/{realm}, for example
# http://127.0.0.1:8080/realms/default.
#
# Works in Windows PowerShell 5.1 and PowerShell 7 on any platform. PtrToStringBSTR is used
# rather than PtrToStringAuto: a BSTR is UTF-16 everywhere, and PtrToStringAuto reads it as
# UTF-8 on Linux and macOS, returning only the first character of the password.

$USERNAME = Read-Host -Prompt "Enter Username"
$REALM = Read-Host -Prompt "Enter Realm"
Write-Host $REALM
$PASSWORD = Read-Host -Prompt "Enter Password" -AsSecureString

$BSTR = [System.Runtime.InteropServices.Marshal]::SecureStringToBSTR($PASSWORD)
try {
    $PlainPassword = [System.Runtime.InteropServices.Marshal]::PtrToStringBSTR($BSTR)
} finally {
    # Zero and free the unmanaged copy of the password at once.
    [System.Runtime.InteropServices.Marshal]::ZeroFreeBSTR($BSTR)
}

try {
    # A hash table -Body on a POST is sent form-encoded (application/x-www-form-urlencoded).
    $response = Invoke-RestMethod -Method Post `
        -Uri "$REALM/protocol/openid-connect/token" `
        -ContentType 'application/x-www-form-urlencoded' `
        -Body @{
            'client_id'  = 'portal'
            'grant_type' = 'password'
            'username'   = $USERNAME
            'password'   = $PlainPassword
        }
    $response.access_token
} catch {
    # OAuth errors (400, 401, 429) arrive as an exception; show the server's JSON.
    if ($_.ErrorDetails -and $_.ErrorDetails.Message) {
        Write-Error $_.ErrorDetails.Message
    } else {
        Write-Error $_
    }
    exit 1
} finally {
    $PlainPassword = $null
    Remove-Variable -Name PlainPassword -ErrorAction SilentlyContinue
}
